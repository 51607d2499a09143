"""`msa load`: a JSON-lines bulk load into a real store, run again without duplicates, resumed after kill -9
with every acknowledged batch kept, and bad lines reported by line number."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner

from msa.cli.load import new_items
from msa.cli.main import cli
from msa.memstore.storage.store import Store

ROOT = Path(__file__).resolve().parents[1]


def run(*args) -> object:
    return CliRunner().invoke(cli, [str(a) for a in args])


def write_lines(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def documents(store: Path, ns: str) -> dict[str, tuple[str, dict, int]]:
    with Store(store, readonly=True) as s:
        docs, token = s.list(ns, page_size=1000)
        assert not token
        return {d.id: (s.get(ns, d.id).text, dict(d.metadata), d.version) for d in docs}


def new_store(checkpoint, tmp_path: Path) -> tuple[Path, Path]:
    model = checkpoint("qwen3", pooling_kernel_size=4)
    assert run("init", tmp_path / "s", "--model", model).exit_code == 0
    return tmp_path / "s", model


def test_a_load_writes_every_line_once_and_again_writes_nothing(checkpoint, tmp_path):
    store, model = new_store(checkpoint, tmp_path)
    rows = [{"id": f"m{i}", "text": f"Memory number {i} is about tea.", "metadata": {"n": i}} for i in range(7)]
    rows += [{"text": "A memory without an id."}, "", {"text": "Another one, no id either.", "metadata": {}}]
    file = write_lines(tmp_path / "m.jsonl", rows)
    first = run("load", store, "notes", file, "--model", model, "--batch", "3")
    assert first.exit_code == 0, first.output
    assert "9 memories written, 0 already there" in first.output
    docs = documents(store, "notes")
    assert len(docs) == 9 and docs["m4"] == ("Memory number 4 is about tea.", {"n": "4"}, 1)
    assert sorted(t for t, _, _ in docs.values() if "no id" in t or "without" in t) == [
        "A memory without an id.", "Another one, no id either."]
    again = run("load", store, "notes", file, "--model", model)
    assert again.exit_code == 0 and "0 memories written, 9 already there" in again.output
    assert documents(store, "notes") == docs  # no new versions either


def test_an_id_repeated_in_a_later_batch_keeps_its_first_line(checkpoint, tmp_path):
    """Batches overlap (the next is encoded while the previous commits): a later line naming an id an earlier
    batch wrote is skipped, not an error."""
    store, model = new_store(checkpoint, tmp_path)
    rows = [{"id": f"m{i}", "text": f"Memory {i} is about tea."} for i in range(5)]
    rows.insert(2, {"id": "m1", "text": "A second line for m1."})  # the next batch, in flight beside the first
    result = run("load", store, "notes", write_lines(tmp_path / "m.jsonl", rows), "--model", model, "--batch", "2")
    assert result.exit_code == 0, result.output
    assert "5 memories written, 1 already there" in result.output
    assert documents(store, "notes")["m1"] == ("Memory 1 is about tea.", {}, 1)
    named: set[str] = set()  # the file's ids are tracked across batches, before the store could know them
    assert [i.id for i in new_items(rows[:2], named)] == ["m0", "m1"]
    assert [i.id for i in new_items(rows[2:4], named)] == ["m2"]


def test_a_bad_line_is_named_and_what_came_before_stays(checkpoint, tmp_path):
    store, model = new_store(checkpoint, tmp_path)
    rows = [{"id": f"m{i}", "text": f"Memory {i}."} for i in range(4)] + ["{not json", {"id": "x", "text": "late"}]
    out = run("load", store, "notes", write_lines(tmp_path / "m.jsonl", rows), "--model", model, "--batch", "2")
    assert out.exit_code == 1 and "m.jsonl:5: not a JSON object" in out.output and "Traceback" not in out.output
    assert sorted(documents(store, "notes")) == ["m0", "m1", "m2", "m3"]
    out = run("load", store, "notes", write_lines(tmp_path / "n.jsonl", [{"text": "x", "metadata": [1]}]),
              "--model", model)
    assert out.exit_code == 1 and "n.jsonl:1: \"metadata\" must be an object" in out.output


def test_a_load_killed_mid_way_resumes_without_loss_or_duplicates(checkpoint, tmp_path):
    store, model = new_store(checkpoint, tmp_path)
    rows = [{"id": f"m{i:03d}", "text": f"Memory {i}: " + "word " * (i % 9 + 1)} for i in range(300)]
    file = write_lines(tmp_path / "m.jsonl", rows)
    command = [sys.executable, "-m", "msa.cli.main", "load", str(store), "notes", str(file), "--model", str(model),
               "--batch", "4"]
    loader = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    loaded = 0
    while loaded < 40 and time.monotonic() < deadline and loader.poll() is None:
        time.sleep(0.2)
        try:
            loaded = len(documents(store, "notes"))
        except Exception:  # the namespace may not exist yet
            loaded = 0
    loader.send_signal(signal.SIGKILL)
    loader.wait()
    before = documents(store, "notes")
    assert 40 <= len(before) < 300, len(before)  # killed mid-way, and every acknowledged batch is there
    resumed = run("load", store, "notes", file, "--model", model, "--batch", "16")
    assert resumed.exit_code == 0, resumed.output
    assert f"{300 - len(before)} memories written, {len(before)} already there" in resumed.output
    after = documents(store, "notes")
    assert sorted(after) == [r["id"] for r in rows]
    assert all(after[r["id"]][0] == r["text"] and after[r["id"]][2] == 1 for r in rows)


def test_a_load_beside_a_writer_of_the_store_is_refused(checkpoint, tmp_path):
    store, model = new_store(checkpoint, tmp_path)
    file = write_lines(tmp_path / "m.jsonl", [{"text": "x"}])
    with Store(store):  # as a running server holds it
        out = run("load", store, "notes", file, "--model", model)
    assert out.exit_code == 1 and "is open for writing by pid" in out.output and "Traceback" not in out.output
