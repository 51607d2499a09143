"""`msa export` then `msa import` into a store bound to another model: every id, text, metadata, version and
time comes across; the new store routes with its own model's encodings; an import run again writes nothing;
bad export lines are refused with their place."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from msa.cli.main import cli
from msa.memstore.engine import Engine, WriteItem
from msa.memstore.storage.store import Store
from msa.model.api import MSAModel


def run(*args) -> object:
    return CliRunner().invoke(cli, [str(a) for a in args])


def records(store: Path) -> dict[tuple[str, str], tuple]:
    with Store(store, readonly=True) as s:
        return {(space.name, d.id): (d.text, d.metadata, d.version, d.created_at, d.updated_at, d.expires_at, d.tokens)
                for space in s.all_namespaces() for d in s.scan(space.name)}


def test_export_then_import_into_another_model_keeps_every_memory(checkpoint, tmp_path):
    first, other = checkpoint("qwen3", pooling_kernel_size=4), checkpoint("llama", pooling_kernel_size=4)
    engine = Engine.open(tmp_path / "a", MSAModel.from_pretrained(first), create=True)
    engine.create_namespace("notes", "what the agent knows")
    engine.create_namespace("empty")
    engine.write("notes", [WriteItem(f"Memory {i}: the river flows {'north' if i % 2 else 'south'}.",
                                     {"n": str(i), "kind": "fact"}, f"m{i}", expires_at=4e9 if i == 7 else 0.0)
                           for i in range(9)])
    engine.update("notes", "m3", text="Memory 3 was rewritten: Ada prefers tea.")
    engine.update("notes", "m3", metadata={"kind": "preference"})
    engine.delete("notes", ["m5"])
    engine.close()
    before = records(tmp_path / "a")

    out = run("export", tmp_path / "a", tmp_path / "dump")
    assert out.exit_code == 0 and "exported 8 memories of 2 namespaces" in out.output, out.output
    assert [json.loads(line)["id"] for line in (tmp_path / "dump" / "notes.jsonl").read_text().splitlines()] == [
        f"m{i}" for i in range(9) if i != 5]  # creation order
    assert run("init", tmp_path / "b", "--model", other).exit_code == 0
    imported = run("import", tmp_path / "b", tmp_path / "dump", "--model", other, "--batch", "3")
    assert imported.exit_code == 0 and "8 memories imported into 2 namespaces, 0 already there" in imported.output
    after = records(tmp_path / "b")
    assert {k: v[:6] for k, v in after.items()} == {k: v[:6] for k, v in before.items()}  # ids, text, versions...
    assert after[("notes", "m3")][2] == 3 and after[("notes", "m3")][1] == {"kind": "preference"}
    with Store(tmp_path / "a", readonly=True) as a, Store(tmp_path / "b", readonly=True) as b:
        for doc_id in ("m3", "m5"):  # earlier versions, a deleted memory's included
            assert [(d.version, d.text, d.metadata, d.deleted_at) for d in b.history("notes", doc_id)] == [
                (d.version, d.text, d.metadata, d.deleted_at) for d in a.history("notes", doc_id)]
        assert [d.version for d in b.history("notes", "m3")] == [3, 2, 1]
    with Store(tmp_path / "b", readonly=True) as s:
        assert s.namespace("notes").description == "what the agent knows" and s.namespace("empty").documents == 0
        assert s.binding.fingerprint != Store(tmp_path / "a", readonly=True).binding.fingerprint

    again = run("import", tmp_path / "b", tmp_path / "dump", "--model", other)
    assert again.exit_code == 0 and "0 memories imported into 2 namespaces, 8 already there" in again.output
    engine = Engine.open(tmp_path / "b", MSAModel.from_pretrained(other))
    assert {c.id for c in engine.retrieve("notes", "Who prefers tea?", top_k=8, read_mode="text")} == {
        f"m{i}" for i in range(9) if i != 5}  # encoded by the new model, routed by it
    engine.close()
    assert "is not empty" in run("export", tmp_path / "a", tmp_path / "dump").output


def test_bad_export_lines_are_refused_with_their_place(checkpoint, tmp_path):
    model = checkpoint("qwen3", pooling_kernel_size=4)
    assert run("init", tmp_path / "s", "--model", model).exit_code == 0
    dump = tmp_path / "dump"
    dump.mkdir()
    (dump / "namespaces.jsonl").write_text('{"name": "notes", "description": ""}\n')
    (dump / "notes.jsonl").write_text('{"id": "a", "text": "fine", "version": 2}\n')
    partial = run("import", tmp_path / "s", dump, "--model", model)
    assert partial.exit_code == 1 and "notes.jsonl:1: give version, created_at, updated_at together" in partial.output
    (dump / "notes.jsonl").write_text('{"id": "a", "text": "x", "version": 0, "created_at": 1, "updated_at": 2}\n')
    bad = run("import", tmp_path / "s", dump, "--model", model)
    assert bad.exit_code == 1 and "version must be an integer >= 1" in bad.output and "Traceback" not in bad.output
    assert "has no namespaces.jsonl" in run("import", tmp_path / "s", tmp_path, "--model", model).output
