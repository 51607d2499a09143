"""`msa check|stats|backup|restore|compact` on a store path: one line on error, exit codes."""

from __future__ import annotations

import json

from click.testing import CliRunner

from msa.cli.main import cli
from msa.memstore.storage.records import blob_key
from tests.store_helpers import LAYERS, doc, open_store


def run(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_maintenance_commands(tmp_path):
    path = tmp_path / "s"
    with open_store(path) as store:
        store.create_namespace("n")
        store.write("n", [doc(f"d{i}", "w" * 200, seed=i) for i in range(12)])
        store.delete("n", [f"d{i}" for i in range(8)])
    ok = run("check", path)
    assert ok.exit_code == 0 and "4 documents, no problems" in ok.output
    stats = json.loads(run("stats", path).output)
    assert stats["namespaces"]["n"]["documents"] == 4
    assert run("backup", path, tmp_path / "b").exit_code == 0
    assert run("backup", path, tmp_path / "b").exit_code == 1  # not into a used directory
    assert run("restore", tmp_path / "b", tmp_path / "r").exit_code == 0
    assert run("check", tmp_path / "r").exit_code == 0
    compacted = run("compact", path)
    assert compacted.exit_code == 0 and "compacted" in compacted.output
    with open_store(path) as store, store.env.begin(write=True) as txn:
        txn.delete(blob_key("n", b"V", LAYERS[1], 9), db=store.db["blobs"])
    bad = run("check", path)
    assert bad.exit_code == 1 and "n/d9: V blob of layer" in bad.output and "Traceback" not in bad.output
    missing = run("check", tmp_path / "nothing-here")
    assert missing.exit_code == 2  # click: the path does not exist
