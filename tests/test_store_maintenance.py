"""Backup while writing, restore (refusing damaged backups), compact in place."""

from __future__ import annotations

import threading

import pytest

from msa.memstore.errors import AlreadyExists, CorruptData
from msa.memstore.storage.maintenance import compact, restore
from msa.memstore.storage.records import blob_key
from msa.memstore.storage.store import Store
from tests.store_helpers import BINDING, LAYERS, doc, open_store


def test_backup_during_writes_is_consistent_and_restores(tmp_path):
    with open_store(tmp_path / "live") as store:
        store.create_namespace("n")
        store.write("n", [doc(f"base{i}", seed=i) for i in range(10)])
        done = threading.Event()

        def writer() -> None:
            i = 0
            while not done.is_set():
                store.write("n", [doc(f"w{i}", "t" * (i % 50 + 1), seed=i)])
                i += 1

        thread = threading.Thread(target=writer)
        thread.start()
        try:
            store.backup(tmp_path / "backup")
        finally:
            done.set()
            thread.join()
        with pytest.raises(AlreadyExists):
            store.backup(tmp_path / "backup")
    assert restore(tmp_path / "backup", tmp_path / "restored") == []
    with Store(tmp_path / "restored", BINDING) as copy:
        assert copy.check() == []
        space = copy.namespace("n")
        page, token = copy.list("n", page_size=1000)
        while token:  # the restored copy changes no more: its pages join up
            more, token = copy.list("n", page_size=1000, page_token=token)
            page += more
        assert space.documents == len(page) >= 10  # a snapshot: counts and documents agree
        assert [d.ordinal for d in page] == list(range(len(page)))  # a prefix of the writes, no gaps


def test_restore_refuses_a_damaged_backup(tmp_path):
    with open_store(tmp_path / "live") as store:
        store.create_namespace("n")
        store.write("n", [doc("a")])
        with store.env.begin(write=True) as txn:
            txn.delete(blob_key("n", b"R", LAYERS[0], 0), db=store.db["blobs"])
        store.backup(tmp_path / "backup")
    with pytest.raises(CorruptData, match="missing"):
        restore(tmp_path / "backup", tmp_path / "restored")
    assert not (tmp_path / "restored").exists()


def test_compact_shrinks_after_deletes(tmp_path):
    path = tmp_path / "s"
    with open_store(path) as store:
        store.create_namespace("n")
        store.write("n", [doc(f"d{i}", "z" * 3000, seed=i) for i in range(60)])
        store.delete("n", [f"d{i}" for i in range(55)])
    before, after = compact(path)
    assert after < before / 2
    with Store(path, BINDING) as store:
        assert store.check() == [] and store.namespace("n").documents == 5
        assert store.get("n", "d57").text == "z" * 3000
        store.write("n", [doc("again")])  # still writable after the swap
