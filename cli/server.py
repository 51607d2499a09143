"""`msa serve` (the gRPC server) and `msa init` (a new store bound to a model)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from msa.memstore.errors import StoreError
from msa.memstore.server.config import load_config


@click.command("serve")
@click.argument("store", required=False)
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False), envvar="MSA_CONFIG",
              help="TOML settings (msa.memstore.server.config); MSA_* variables and these flags override it.")
@click.option("--listen", help="host:port [127.0.0.1:50051].")
@click.option("--model", help="Checkpoint directory [the embedded default].")
@click.option("--device", help="cpu or cuda [cpu].")
@click.option("--dtype", help="auto, float32 or bfloat16 [auto: bfloat16 on a CPU with native bf16 matmuls].")
@click.option("--tokens-file", help="Bearer tokens (TOML); without one the server listens on loopback only.")
@click.option("--tls-cert", help="PEM certificate chain (with --tls-key: TLS).")
@click.option("--tls-key", help="PEM private key.")
@click.option("--metrics-listen", help="host:port of the Prometheus /metrics endpoint [off].")
@click.option("--mcp-listen", help="host:port of the MCP streamable-HTTP endpoint /mcp, same bearer tokens [off].")
@click.option("--max-queries", type=int, help="Questions generating at once [2].")
@click.option("--world-size", type=int, help="Memory Parallel: ranks sharing the routing index, one per GPU on a GPU "
              "server (started here; under torchrun, its ranks) [1].")
def serve_cmd(store: str | None, config_file: str | None, **flags) -> None:
    """Serve the store at STORE over gRPC until SIGTERM / SIGINT (in-flight requests finish).

    Across machines: `torchrun --nnodes M --nproc-per-node G --rdzv-backend c10d --rdzv-endpoint HOST:PORT
    -m msa.cli.main serve STORE --device cuda`; rank 0 serves, the others hold routing-index shards."""
    from msa.memstore.index import parallel
    from msa.memstore.server import logs
    from msa.memstore.server.serve import serve

    try:
        config = load_config(config_file, flags={**flags, "store": store})
        logs.setup()
        if parallel.under_torchrun() and int(os.environ["RANK"]) > 0:
            parallel.serve_shards(config)
            return
        serve(config, on_listening=lambda port: click.echo(f"msa: listening on port {port}", err=True))
    except StoreError as e:
        raise click.ClickException(str(e)) from e


@click.command("init")
@click.argument("store", type=click.Path(file_okay=False, path_type=Path))
@click.option("--model", "model_path", help="Checkpoint directory the store is bound to [the embedded default].")
def init_cmd(store: Path, model_path: str | None) -> None:
    """Create an empty store at STORE, bound to a model (only that model may open it)."""
    from msa.memstore.engine import Engine
    from msa.model.api import MSAModel
    from msa.model.checkpoints.default import default_model

    if (store / "data.mdb").exists():
        raise click.ClickException(f"{store} already holds a store")
    try:
        model = MSAModel.from_pretrained(model_path or default_model())
        Engine.open(store, model, create=True).close()
    except (StoreError, OSError, ValueError) as e:
        raise click.ClickException(str(e)) from e
    click.echo(f"created {store} for model {model.path.name}")
