"""The LMDB store: CRUD semantics, versions, pagination, model binding, map growth, check, stats, one writer."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest
import torch

from msa.memstore.errors import (
    AlreadyExists,
    CorruptData,
    InvalidArgument,
    ModelMismatch,
    NotFound,
    Unavailable,
    VersionConflict,
)
from msa.memstore.storage import blob, reads
from msa.memstore.storage.records import ModelBinding, NewDocument, blob_key
from msa.memstore.storage.store import Store
from tests.store_helpers import BINDING, LAYERS, doc, encoding, open_store


@pytest.fixture
def store(tmp_path):
    with open_store(tmp_path / "s") as s:
        s.create_namespace("agent-1", "first agent")
        yield s


def test_write_get_and_kv_round_trip(store):
    d = doc("a", "Rex is a dog who lives in Paris.", seed=1, topic="pets")
    (res,) = store.write("agent-1", [d])
    assert (res.id, res.version, res.ordinal, res.changed) == ("a", 1, 0, True)
    got = store.get("agent-1", "a")
    assert got.text == d.text and got.metadata == {"topic": "pets"} and got.tokens == len(d.encoding.token_ids)
    kv = store.kv("agent-1", [0, 99], LAYERS[1])
    assert list(kv) == [0]
    assert torch.equal(kv[0][0], d.encoding.keys[LAYERS[1]]) and torch.equal(kv[0][1], d.encoding.values[LAYERS[1]])
    (row,) = store.namespace_routing_keys("agent-1")[LAYERS[0]]
    assert row[0] == 0 and torch.equal(row[1], d.encoding.routing_keys[LAYERS[0]])
    assert store.namespace("agent-1").documents == 1 and store.check() == []  # check reads the tokens blob


def test_create_mode_is_all_or_nothing(store):
    store.write("agent-1", [doc("a")])
    with pytest.raises(AlreadyExists):
        store.write("agent-1", [doc("b"), doc("a")])
    with pytest.raises(NotFound):
        store.get("agent-1", "b")  # the batch failed whole
    assert store.namespace("agent-1").documents == 1


def test_upsert_replaces_and_is_idempotent(store):
    store.write("agent-1", [doc("a", "one")])
    (same,) = store.write("agent-1", [doc("a", "one")], mode="upsert")
    assert (same.version, same.changed) == (1, False)
    (new,) = store.write("agent-1", [doc("a", "two words", seed=5)], mode="upsert")
    assert (new.version, new.ordinal, new.changed) == (2, 0, True)
    assert store.get("agent-1", "a").text == "two words"
    assert store.get("agent-1", "a").tokens == len(b"two words")
    assert store.namespace("agent-1").documents == 1 and store.check() == []  # the tokens blob was replaced too


def test_update_versions_and_conflicts(store):
    store.write("agent-1", [doc("a", "first text", k="1")])
    res = store.update("agent-1", "a", metadata={"k": "2"})
    assert res.version == 2 and store.get("agent-1", "a").metadata == {"k": "2"}
    with pytest.raises(VersionConflict):
        store.update("agent-1", "a", metadata={"k": "3"}, expected_version=1)
    text = "a much longer second text than before"
    res = store.update("agent-1", "a", text=text, encoding=encoding(text, 3), expected_version=2)
    got = store.get("agent-1", "a")
    assert res.version == 3 and got.text == text and got.chunks == encoding(text).chunks
    assert store.update("agent-1", "a", metadata={"k": "2"}).changed is False
    with pytest.raises(InvalidArgument):
        store.update("agent-1", "a", text="no encoding")
    with pytest.raises(NotFound):
        store.update("agent-1", "zz", metadata={})
    assert store.check() == []


def test_delete_and_ordinals_never_reused(store):
    store.write("agent-1", [doc("a"), doc("b"), doc("c")])
    with pytest.raises(NotFound):  # all or nothing: "b" stays
        store.delete("agent-1", ["b", "missing"])
    assert store.get("agent-1", "b").version == 1
    gone = store.delete("agent-1", ["b"])
    assert [d.id for d in gone] == ["b"]
    with pytest.raises(VersionConflict):
        store.delete("agent-1", ["a"], expected_version=7)
    with pytest.raises(InvalidArgument):
        store.delete("agent-1", ["a", "c"], expected_version=1)
    (res,) = store.write("agent-1", [doc("b")])
    assert res.ordinal == 3  # never 1 again
    assert [o for o, _ in store.namespace_routing_keys("agent-1")[LAYERS[0]]] == [0, 2, 3]
    assert store.namespace("agent-1").documents == 3
    assert store.check() == []


def test_list_pages_and_filters(store):
    store.write("agent-1", [doc(f"d{i}", kind="even" if i % 2 == 0 else "odd") for i in range(25)])
    seen, token = [], ""
    while True:
        page, token = store.list("agent-1", page_size=7, page_token=token)
        assert all(d.text == "" for d in page)
        seen += [d.id for d in page]
        if not token:
            break
    assert seen == [f"d{i}" for i in range(25)]
    evens, _ = store.list("agent-1", page_size=100, where={"kind": "even"})
    assert [d.id for d in evens] == [f"d{i}" for i in range(0, 25, 2)]
    with pytest.raises(InvalidArgument):
        store.list("agent-1", page_token="garbage")
    for size in (-1, 1001):
        with pytest.raises(InvalidArgument):
            store.list("agent-1", page_size=size)
    assert len(store.list("agent-1", page_size=0)[0]) == 25  # 0 = a page of 100


def test_a_filtered_list_page_reads_a_bounded_number_of_documents(store, monkeypatch):
    """A filter that matches nothing ends each page after MAX_LIST_SCAN documents, with a token to go on."""
    monkeypatch.setattr(reads, "MAX_LIST_SCAN", 10)
    store.write("agent-1", [doc(f"d{i}", kind="odd" if i == 23 else "even") for i in range(25)])
    pages, token = [], ""
    while True:
        page, token = store.list("agent-1", page_size=5, page_token=token, where={"kind": "odd"})
        pages.append(([d.id for d in page], token))
        if not token:
            break
    assert pages == [([], "10"), ([], "20"), (["d23"], "")]


def test_namespaces(store):
    with pytest.raises(AlreadyExists):
        store.create_namespace("agent-1")
    for bad in ("", "a/b", "-x", "x" * 200, "sp ace"):
        with pytest.raises(InvalidArgument):
            store.create_namespace(bad)
    for i in range(5):
        store.create_namespace(f"ns{i}")
    page, token = store.list_namespaces(page_size=4)
    rest, end = store.list_namespaces(page_size=4, page_token=token)
    assert [n.name for n in page + rest] == ["agent-1", "ns0", "ns1", "ns2", "ns3", "ns4"] and end == ""
    store.write("ns1", [doc("a"), doc("b")])
    store.write("ns2", [doc("a")])
    assert store.delete_namespace("ns1") == 2
    with pytest.raises(NotFound):
        store.get("ns1", "a")
    assert store.get("ns2", "a").id == "a"  # a namespace sharing a prefix is untouched
    store.create_namespace("ns1")  # the name is free again, and none of the old routing keys came back
    assert store.namespace_routing_keys("ns1") == {layer: [] for layer in LAYERS}
    with pytest.raises(NotFound):
        store.write("nope", [doc("a")])


def test_a_big_namespace_is_deleted_whole_for_readers_and_purged_in_bounded_transactions(store, monkeypatch):
    """Issue 17: deleting a huge namespace never holds the one writer for one giant transaction."""
    store.create_namespace("big")
    store.write("big", [doc(f"d{i}") for i in range(600)])
    store.write("agent-1", [doc("a")])
    sizes, write = [], store._write

    def counted(fn):  # the entries each write transaction removes
        before = entries(store)
        out = write(fn)
        sizes.append(before - entries(store))
        return out

    monkeypatch.setattr(store, "_write", counted)
    assert store.drop_namespace("big") == 600
    for read in (lambda: store.get("big", "d0"), lambda: store.list("big"), lambda: store.namespace("big")):
        with pytest.raises(NotFound):  # gone for readers at once, before any record is purged
            read()
    assert "big" not in store.stats()["namespaces"] and store.purging() == ["big"]
    with pytest.raises(Unavailable):  # the name is held until the purge is done
        store.create_namespace("big")
    store.purge("big")
    per_document = 2 + 3 * len(LAYERS) + 1  # record, ordinal, K / V / routing keys per layer, token ids
    assert sizes == [0, 256 * per_document, 256 * per_document, 88 * per_document]
    assert store.purging() == [] and store.create_namespace("big").documents == 0
    assert store.get("agent-1", "a").id == "a" and store.list("big") == ([], "")


def test_an_interrupted_purge_finishes_when_the_store_opens(tmp_path):
    with open_store(tmp_path / "s") as store:
        store.create_namespace("big")
        store.write("big", [doc(f"d{i}") for i in range(300)])
        store.drop_namespace("big")  # the process dies here, before its purge
    with Store(tmp_path / "s", BINDING) as store:
        assert store.purging() == [] and store.create_namespace("big").next_ordinal == 0
        assert entries(store) == 0


def entries(store: Store) -> int:
    """Document, ordinal and blob records in the store."""
    with store.env.begin() as txn:
        return sum(txn.stat(store.db[name])["entries"] for name in ("documents", "ordinals", "blobs"))


@pytest.mark.parametrize("bad_id", ["", "x" * 257, "tab\there", "nul\0", "bell\x07"])
def test_bad_ids_are_rejected(store, bad_id):
    with pytest.raises(InvalidArgument):
        store.write("agent-1", [doc("ok"), NewDocument(bad_id, "text", {}, encoding("text"))])
    assert store.namespace("agent-1").documents == 0


def test_bad_documents_are_rejected(store):
    good = doc("a")
    with pytest.raises(InvalidArgument):
        store.write("agent-1", [good, good])  # same id twice
    with pytest.raises(InvalidArgument):
        store.write("agent-1", [NewDocument("b", "", {}, encoding("x"))])  # empty text
    with pytest.raises(InvalidArgument):
        store.write("agent-1", [NewDocument("b", "t", {"k": "v" * 20000}, encoding("t"))])  # metadata too large
    wrong_layers = encoding("t")
    wrong_layers.keys.pop(LAYERS[0])
    with pytest.raises(InvalidArgument):
        store.write("agent-1", [NewDocument("b", "t", {}, wrong_layers)])
    with pytest.raises(InvalidArgument):
        store.write("agent-1", [good], mode="replace")
    with pytest.raises(InvalidArgument):
        store.write("agent-1", [])
    assert store.namespace("agent-1").documents == 0


def test_reopen_and_model_binding(tmp_path):
    path = tmp_path / "s"
    with open_store(path) as s:
        s.create_namespace("n")
        s.write("n", [doc("a", "kept across reopen")])
    before = (path / "data.mdb").read_bytes()
    other = ModelBinding("0" * 64, LAYERS, {}, "another-model")
    with pytest.raises(ModelMismatch, match="tiny-test"):
        Store(path, other)
    assert (path / "data.mdb").read_bytes() == before  # refused before writing anything
    with Store(path, BINDING) as s:
        assert s.get("n", "a").text == "kept across reopen"
    with Store(path) as s:  # maintenance: no model needed
        assert s.binding == BINDING and s.check() == []
    with pytest.raises(NotFound):
        Store(tmp_path / "nowhere", BINDING)


def test_map_grows_while_readers_come_and_go(tmp_path):
    with open_store(tmp_path / "s", map_size=256 * 1024) as s:
        s.create_namespace("n")
        stop = threading.Event()
        errors = []

        def reader() -> None:
            while not stop.is_set():
                try:
                    s.list("n", page_size=5)
                except Exception as e:
                    errors.append(e)
                time.sleep(0.001)

        threads = [threading.Thread(target=reader) for _ in range(2)]
        for t in threads:
            t.start()
        for i in range(40):
            s.write("n", [doc(f"d{i}", "x" * 400, seed=i)])
        stop.set()
        for t in threads:
            t.join()
        assert not errors
        assert s.env.info()["map_size"] > 256 * 1024
        assert s.namespace("n").documents == 40 and s.check() == []


def test_map_limit_is_a_typed_error_and_the_store_stays_readable(tmp_path):
    from msa.memstore.errors import StoreFull

    with open_store(tmp_path / "s", map_size=256 * 1024, max_map_size=512 * 1024) as s:
        s.create_namespace("n")
        with pytest.raises(StoreFull, match="map size limit"):
            for i in range(200):
                s.write("n", [doc(f"d{i}", "y" * 400, seed=i)])
        written = s.namespace("n").documents
        assert written > 0 and s.get("n", "d0").text == "y" * 400 and s.check() == []


def test_check_finds_corrupted_and_missing_blobs(store):
    store.write("agent-1", [doc("a"), doc("b")])
    key = blob_key("agent-1", b"V", LAYERS[1], 1)
    with store.env.begin(write=True) as txn:
        value = bytearray(txn.get(key, db=store.db["blobs"]))
        value[-1] ^= 0x01
        txn.put(key, bytes(value), db=store.db["blobs"])
        txn.delete(blob_key("agent-1", b"K", LAYERS[0], 0), db=store.db["blobs"])
    problems = store.check()
    assert len(problems) == 2
    assert any("checksum" in p and "agent-1/b" in p for p in problems)
    assert any("missing" in p and "agent-1/a" in p for p in problems)
    with pytest.raises(CorruptData):
        store.kv("agent-1", [1], LAYERS[1])


def test_stats_count_bytes_per_kind(store):
    store.write("agent-1", [doc("a", "some text here"), doc("b", "and more text")])
    stats = store.stats()
    ns = stats["namespaces"]["agent-1"]
    assert ns["documents"] == 2 and ns["tokens"] == len("some text here") + len("and more text")
    assert set(ns["bytes"]) == {"K", "V", "R", "T"}
    chunks = encoding("some text here").chunks + encoding("and more text").chunks
    raw, stored = ns["bytes"]["K"]
    assert raw == chunks * 2 * 8 * 2 * len(LAYERS)  # [C, heads 2, dim 8] bf16 per layer
    assert stored > 0 and stats["fingerprint"] == BINDING.fingerprint


def test_blob_codecs_round_trip_and_reject_damage():
    t = torch.randn(5, 3, 7).to(torch.bfloat16)
    for codec in blob.Codec:
        data = blob.encode(t, codec)
        assert torch.equal(blob.decode(data), t)
        for cut in (0, 10, len(data) - 1):
            with pytest.raises(CorruptData):
                blob.decode(data[:cut])
    assert torch.equal(blob.decode(blob.encode(torch.empty(0, 3))), torch.empty(0, 3))
    with pytest.raises(InvalidArgument):
        blob.encode(torch.zeros(2, dtype=torch.complex64))


def test_one_writing_process_per_store(tmp_path):
    """A second writer (another `msa serve`, a `msa load` beside a server) is refused with who holds the store;
    a read-only open works beside the writer; closing (or dying) releases it."""
    path = tmp_path / "s"
    probe = ("import sys\nfrom msa.memstore.storage.store import Store\nfrom msa.memstore.errors import StoreBusy\n"
             "try:\n    Store(sys.argv[1]).close()\n    print('writer')\n"
             "except StoreBusy as e:\n    print('busy:', e)\n"
             "with Store(sys.argv[1], readonly=True) as s:\n    print('read:', s.get('n', 'a').text)\n")

    def other_process() -> str:
        done = subprocess.run([sys.executable, "-c", probe, str(path)], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    with open_store(path) as writer:
        writer.create_namespace("n")
        writer.write("n", [doc("a", "held")])
        seen = other_process()
        assert f"is open for writing by pid {os.getpid()}" in seen and "read: held" in seen
    assert other_process().startswith("writer")  # released on close
