"""`msa load`: bulk-load memories from a JSON-lines file into a store, resumable without duplicates.

Each line is one `{"id", "text", "metadata"}` object (`id` and `metadata` optional). A line without an id gets
one from its text's hash, so loading the same file again writes nothing twice: before a batch is encoded, the
ids the store already holds are skipped. A line of `msa export` also carries `version`, `created_at` and
`updated_at` (and `expires_at`), which the memory keeps (`msa import` loads such files). An interrupted load
(Ctrl-C, kill -9) is resumed by running it again; every batch acknowledged before the interruption is durable
(one transaction, synced).
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import click

from msa.memstore.engine import Engine, Origin, WriteItem
from msa.memstore.errors import NotFound, StoreError

ORIGIN = ("version", "created_at", "updated_at")  # kept from an export's line
IN_FLIGHT = 2  # batches submitted at once: the next is encoded while the previous commits (`WriteBatcher`)
BATCH = {"cpu": 64, "cuda": 512}  # memories encoded together and committed in one transaction, by device:
# a GPU encodes faster in wider forwards (docs/benchmarks.md, "Ingest")


def file_batches(path: Path, size: int) -> Iterator[tuple[int, list[dict]]]:
    """(bytes read so far, up to `size` objects) for the file's non-empty lines; a bad line is a clear error."""
    batch: list[dict] = []
    done = 0
    for done, obj in file_items(path):
        batch.append(obj)
        if len(batch) == size:
            yield done, batch
            batch = []
    if batch:
        yield done, batch


def file_items(path: Path) -> Iterator[tuple[int, dict]]:
    """(bytes read so far, object) for every non-empty line; a bad line is a clear error."""
    done = 0
    with path.open("rb") as f:
        for number, raw in enumerate(f, start=1):
            done += len(raw)
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as e:
                raise click.ClickException(f"{path}:{number}: not a JSON object ({e}); fix the line and run again "
                                           "(what was loaded stays)") from e
            if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
                raise click.ClickException(f"{path}:{number}: expected an object with a \"text\" string")
            if not isinstance(obj.get("metadata") or {}, dict):
                raise click.ClickException(f"{path}:{number}: \"metadata\" must be an object of strings")
            if 0 < sum(k in obj for k in ORIGIN) < len(ORIGIN):
                raise click.ClickException(f"{path}:{number}: give {', '.join(ORIGIN)} together (a line of "
                                           "`msa export`) or none of them")
            yield done, obj


def item_id(obj: dict) -> str:
    """The memory's id: its own, else one derived from its text (the same on every run)."""
    given = obj.get("id")
    return str(given) if given not in (None, "") else "sha-" + hashlib.sha256(obj["text"].encode()).hexdigest()[:24]


@click.command("load")
@click.argument("store", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("namespace")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--model", "model_path", help="Checkpoint directory the store is bound to [the embedded default].")
@click.option("--batch", type=click.IntRange(1, 1000), default=None,
              help="Memories encoded together and committed in one transaction [64 on a CPU, 512 on a GPU].")
@click.option("--device", default="cpu", show_default=True)
def load_cmd(store: Path, namespace: str, file: Path, model_path: str | None, batch: int | None, device: str
             ) -> None:
    """Bulk-load memories from FILE (JSON lines) into NAMESPACE of STORE, creating it if needed.

    Resumable: run it again after an interruption and only what is missing is written. Refused while a server
    holds STORE (one writing process per store).
    """
    from msa.model.api import MSAModel
    from msa.model.checkpoints.default import default_model

    try:
        engine = Engine.open(store, MSAModel.from_pretrained(model_path or default_model(), device=device,
                                                             dtype="auto"))
    except StoreError as e:
        raise click.ClickException(str(e)) from e
    start = time.perf_counter()
    try:
        with click.progressbar(length=file.stat().st_size, label=f"loading {file.name}", file=sys.stderr) as bar:
            written, skipped, tokens = load_file(engine, namespace, file,
                                                 batch or BATCH.get(device.split(":")[0], BATCH["cpu"]), bar.update)
    except StoreError as e:
        raise click.ClickException(f"{e} (memories before that batch are loaded; run again to resume)") from e
    finally:
        engine.close()
    seconds = time.perf_counter() - start
    click.echo(f"{written} memories written, {skipped} already there; {tokens} tokens in {seconds:.1f} s "
               f"({tokens / max(seconds, 1e-9):.0f} tokens/s)")


def new_items(lines: list[dict], named: set[str]) -> list[WriteItem]:
    """The lines whose ids no earlier line of the file named (the first line of an id wins), as writes."""
    items = []
    for obj in lines:
        doc_id = item_id(obj)
        if doc_id in named:
            continue
        named.add(doc_id)
        origin = Origin(*(obj[k] for k in ORIGIN)) if ORIGIN[0] in obj else None
        items.append(WriteItem(obj["text"], {str(k): str(v) for k, v in (obj.get("metadata") or {}).items()}, doc_id,
                               origin, obj.get("expires_at") or 0.0))
    return items


def write_batch(engine: Engine, namespace: str, items: list[WriteItem]) -> tuple[int, int]:
    """Write the items whose ids the store does not hold (loaded by an earlier run) -> (written, tokens)."""
    held = engine.existing(namespace, [i.id for i in items])
    fresh = [i for i in items if i.id not in held]
    results = engine.write(namespace, fresh) if fresh else []
    return len(results), sum(r.tokens for r in results)


def load_file(engine: Engine, namespace: str, file: Path, batch: int, progress: Callable[[int], None]
              ) -> tuple[int, int, int]:
    """Load FILE into NAMESPACE (created if needed), IN_FLIGHT batches at a time; `progress` gets bytes of the
    file as their batches commit. -> (written, skipped, tokens written)."""
    try:
        engine.namespace(namespace)
    except NotFound:
        engine.create_namespace(namespace)
    written = skipped = tokens = seen = 0
    named: set[str] = set()
    waiting: deque[tuple[int, int, Future]] = deque()

    def finish_oldest() -> None:
        nonlocal written, skipped, tokens, seen
        done, lines, future = waiting.popleft()
        w, t = future.result()
        written, skipped, tokens = written + w, skipped + lines - w, tokens + t
        progress(done - seen)
        seen = done

    with ThreadPoolExecutor(IN_FLIGHT) as pool:
        for done, objs in file_batches(file, batch):
            waiting.append((done, len(objs), pool.submit(write_batch, engine, namespace, new_items(objs, named))))
            if len(waiting) == IN_FLIGHT:
                finish_oldest()
        while waiting:
            finish_oldest()
    progress(file.stat().st_size - seen)  # trailing blank lines
    return written, skipped, tokens
