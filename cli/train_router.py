"""`msa model train-router`: train a checkpoint's routers on generated memories (backbone frozen)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import asdict, fields
from pathlib import Path

import click

from msa.model.api import MSAModel
from msa.model.train.router import TrainConfig
from msa.model.train.router_run import DataConfig, build_stores, run


def parse_layers(value: str, num_layers: int, default: tuple[int, ...]) -> list[int]:
    """"router" (the checkpoint's router layers), "all", "a-b" or "a,b,c"."""
    if value == "router":
        return list(default)
    if value == "all":
        return list(range(num_layers))
    try:
        if "-" in value:
            a, b = (int(x) for x in value.split("-"))
            layers = list(range(a, b + 1))
        else:
            layers = [int(x) for x in value.split(",")]
    except ValueError as e:
        raise click.BadParameter(f"{value!r} is not 'router', 'all', 'a-b' or 'a,b,c'") from e
    if not layers or not all(0 <= i < num_layers for i in layers):
        raise click.BadParameter(f"layers must lie in [0, {num_layers})")
    return layers


def data_options(command: Callable) -> Callable:
    """The training-data options router and routing-adapter training share (-> `data_config`)."""
    options = [
        click.option("--stores", type=int, default=DataConfig.stores, show_default=True,
                     help="Training stores of generated people."),
        click.option("--everyday-stores", type=int, default=DataConfig.everyday_stores, show_default=True,
                     help="Training stores of generated everyday agent memories."),
        click.option("--description-stores", type=int, default=DataConfig.description_stores, show_default=True,
                     help="Training stores of Debian package descriptions "
                          "(needs `apt-get -o Acquire::Languages=en update`)."),
        click.option("--memories", type=int, default=DataConfig.memories, show_default=True),
        click.option("--questions", type=int, default=DataConfig.questions, show_default=True),
        click.option("--max-facts", type=int, default=DataConfig.max_facts, show_default=True),
        click.option("--val-memories", type=int, default=DataConfig.val_memories, show_default=True),
        click.option("--val-questions", type=int, default=DataConfig.val_questions, show_default=True),
        click.option("--seed", type=int, default=0, show_default=True),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def data_config(options: dict) -> DataConfig:
    """DataConfig from the options `data_options` added (popped from OPTIONS)."""
    return DataConfig(**{f.name: options.pop(f.name) for f in fields(DataConfig)})


def feature_progress() -> Callable[[str, int, int], None]:
    """A progress bar per feature set, each closed when the next starts."""
    bars: dict[str, click.progressbar] = {}

    def progress(label: str, n: int, total: int) -> None:
        if label not in bars:
            for bar in bars.values():
                bar.render_finish()
            bars.clear()
            bars[label] = click.progressbar(length=total, label=f"features: {label}", file=sys.stderr)
        bars[label].update(n)

    return progress


@click.command("train-router")
@click.argument("checkpoint", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Run directory: routers.safetensors, state.pt, log.jsonl (an existing run resumes).")
@click.option("--layers", default="router", show_default=True, help="'router', 'all', 'a-b' or 'a,b,c'.")
@data_options
@click.option("--steps", type=int, default=TrainConfig.steps, show_default=True)
@click.option("--batch", type=int, default=TrainConfig.batch, show_default=True)
@click.option("--lr", type=float, default=TrainConfig.lr, show_default=True)
@click.option("--eval-every", type=int, default=250, show_default=True)
@click.option("--device", default="cpu", show_default=True)
def train_router(checkpoint: Path, out: Path, layers: str, steps: int, batch: int, lr: float, eval_every: int,
                 device: str, **options) -> None:
    """Train CHECKPOINT's router projections with the InfoNCE routing loss on generated memories.

    Validation uses relations, templates and names that training never sees (generated people) and one
    held-out store per other source; recall@1/4/16 per layer and of the mean over layers is logged at every
    evaluation.
    """
    if device.startswith("cuda"):
        import torch

        torch.set_float32_matmul_precision("high")  # TF32 for the router matmuls
    model = MSAModel.from_pretrained(checkpoint, device=device)
    chosen = parse_layers(layers, model.config.num_hidden_layers, model.config.msa.router_layers)
    data = data_config(options)

    with click.progressbar(length=steps, label="training routers", file=sys.stderr) as bar:
        def on_eval(record: dict) -> None:
            recall = {name: {k: round(v, 3) for k, v in mean.items()} for name, mean in record["recall_sets"].items()}
            click.echo(json.dumps({"step": record["step"], "loss": round(record["loss"], 4), "recall_mean": recall}),
                       err=True)

        stores, val = build_stores(model, chosen, data, device, feature_progress())
        run(model, out, chosen, stores, val, TrainConfig(steps, batch, lr, seed=data.seed), device, eval_every,
            on_step=lambda step, loss: bar.update(1), on_eval=on_eval, meta={"data": asdict(data)})
    click.echo(f"routers written to {out / 'routers.safetensors'}")
