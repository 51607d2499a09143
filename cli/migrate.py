"""`msa export` and `msa import`: a store's memories as JSON lines, moved into a store of any model.

An export is a directory: `namespaces.jsonl` (one `{"name", "description", "history"}` a line) and one `NS.jsonl` per
namespace, a memory a line in creation order: `{"id", "text", "metadata", "version", "created_at",
"updated_at"}` and `expires_at` when it expires (expired memories are left out); `NS.history.jsonl` holds the
earlier versions the namespace keeps. It is logical (text, not encodings), so it can be imported into a store
bound to another model, which encodes every memory again; ids, texts, metadata, versions, times and earlier
versions are kept. Import is `msa load` of each file (resumable: run it again after an interruption and only
what is missing is written).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from msa.cli.load import BATCH, load_file
from msa.cli.maintenance import STORE, _open
from msa.memstore.engine import HISTORY_VERSIONS, Document, Engine
from msa.memstore.errors import NotFound, StoreError

NAMESPACES = "namespaces.jsonl"
HISTORY = ".history.jsonl"  # a namespace's earlier versions, beside its memories
VERSION_FIELDS = ("id", "version", "text", "metadata", "created_at", "updated_at", "expires_at", "deleted_at")
HISTORY_BATCH = 500


@click.command("export")
@click.argument("store", type=STORE)
@click.argument("dest", type=click.Path(file_okay=False, path_type=Path))
@click.option("--namespace", "names", multiple=True, help="Only this namespace (repeatable) [all].")
def export_cmd(store: Path, dest: Path, names: tuple[str, ...]) -> None:
    """Write STORE's memories (text, metadata, ids, versions, times) as JSON lines into the new directory DEST.

    Works beside a running server: each namespace is read from one consistent snapshot."""
    if dest.exists() and any(dest.iterdir()):
        raise click.ClickException(f"{dest} is not empty; export into a new directory")
    dest.mkdir(parents=True, exist_ok=True)
    with _open(store, readonly=True) as s:
        spaces = s.all_namespaces()
        if names:
            missing = sorted(set(names) - {n.name for n in spaces})
            if missing:
                raise click.ClickException(f"no namespace {', '.join(map(repr, missing))} in {store}")
            spaces = [n for n in spaces if n.name in names]
        with (dest / NAMESPACES).open("w") as f:
            for space in spaces:
                f.write(json.dumps({"name": space.name, "description": space.description,
                                    "history": space.history}) + "\n")
        total = 0
        with click.progressbar(length=sum(n.documents for n in spaces), label="exporting", file=sys.stderr) as bar:
            for space in spaces:
                with (dest / f"{space.name}.jsonl").open("w") as f:
                    for doc in s.scan(space.name):
                        line = {"id": doc.id, "text": doc.text, "metadata": doc.metadata, "version": doc.version,
                                "created_at": doc.created_at, "updated_at": doc.updated_at}
                        if doc.expires_at:
                            line["expires_at"] = doc.expires_at
                        f.write(json.dumps(line, ensure_ascii=False) + "\n")
                        bar.update(1)
                        total += 1
                with (dest / f"{space.name}{HISTORY}").open("w") as f:
                    for old in s.history_records(space.name):
                        f.write(json.dumps({k: getattr(old, k) for k in VERSION_FIELDS}, ensure_ascii=False) + "\n")
    click.echo(f"exported {total} memories of {len(spaces)} namespaces to {dest}")


@click.command("import")
@click.argument("store", type=STORE)
@click.argument("source", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--model", "model_path", help="Checkpoint directory the store is bound to [the embedded default].")
@click.option("--batch", type=click.IntRange(1, 1000), default=None,
              help="Memories encoded together and committed in one transaction [64 on a CPU, 512 on a GPU].")
@click.option("--device", default="cpu", show_default=True)
def import_cmd(store: Path, source: Path, model_path: str | None, batch: int | None, device: str) -> None:
    """Load an export SOURCE (`msa export`) into STORE, encoding every memory with STORE's model.

    Namespaces are created as needed; ids, texts, metadata, versions and times are kept. Resumable: run it
    again after an interruption. Refused while a server holds STORE."""
    from msa.model.api import MSAModel
    from msa.model.checkpoints.default import default_model

    if not (source / NAMESPACES).exists():
        raise click.ClickException(f"{source} has no {NAMESPACES}: give a directory written by `msa export`")
    spaces = [json.loads(line) for line in (source / NAMESPACES).read_text().splitlines() if line.strip()]
    try:
        engine = Engine.open(store, MSAModel.from_pretrained(model_path or default_model(), device=device,
                                                             dtype="auto"))
    except StoreError as e:
        raise click.ClickException(str(e)) from e
    start, written, skipped, tokens = time.perf_counter(), 0, 0, 0
    try:
        for space in spaces:
            try:
                engine.namespace(space["name"])
            except NotFound:
                engine.create_namespace(space["name"], space.get("description", ""),
                                        space.get("history", HISTORY_VERSIONS))
            file = source / f"{space['name']}.jsonl"
            with click.progressbar(length=file.stat().st_size, label=f"importing {space['name']}",
                                   file=sys.stderr) as bar:
                w, s, t = load_file(engine, space["name"], file,
                                    batch or BATCH.get(device.split(":")[0], BATCH["cpu"]), bar.update)
            written, skipped, tokens = written + w, skipped + s, tokens + t
            import_history(engine, space["name"], source / f"{space['name']}{HISTORY}")
    except StoreError as e:
        raise click.ClickException(f"{e} (what was imported before stays; run again to resume)") from e
    finally:
        engine.close()
    click.echo(f"{written} memories imported into {len(spaces)} namespaces, {skipped} already there; {tokens} "
               f"tokens encoded in {time.perf_counter() - start:.1f} s")


def import_history(engine: Engine, ns: str, file: Path) -> None:
    """A namespace's earlier versions from its export, into its history (idempotent: resumable too)."""
    if not file.exists():
        return
    lines = [json.loads(line) for line in file.read_text().splitlines() if line.strip()]
    for start in range(0, len(lines), HISTORY_BATCH):
        batch = lines[start:start + HISTORY_BATCH]
        try:
            versions = [Document(ns, v["id"], 0, v["version"], v["text"], v["metadata"], 0, 0,
                                 v["created_at"], v["updated_at"], v.get("expires_at", 0.0), v.get("deleted_at", 0.0))
                        for v in batch]
        except (KeyError, TypeError) as e:
            raise click.ClickException(f"{file}: a line lacks a field or has the wrong kind ({e})") from None
        engine.keep_versions(ns, versions)
