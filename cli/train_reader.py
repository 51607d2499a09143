"""`msa model train-reader`: fine-tune a reader adapter on generated notes and questions (backbone frozen)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from msa.model.api import MSAModel
from msa.model.lora import READER_FILE
from msa.model.train.reader import ReaderConfig, train_reader, validation_sets


@click.command("train-reader")
@click.argument("checkpoint", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help=f"Run directory: {READER_FILE} and log.jsonl.")
@click.option("--steps", type=int, default=ReaderConfig.steps, show_default=True)
@click.option("--batch-tokens", type=int, default=ReaderConfig.batch_tokens, show_default=True)
@click.option("--lr", type=float, default=ReaderConfig.lr, show_default=True)
@click.option("--rank", type=int, default=ReaderConfig.rank, show_default=True)
@click.option("--stores", type=int, default=ReaderConfig.stores, show_default=True,
              help="Training stores of generated people.")
@click.option("--everyday-stores", type=int, default=ReaderConfig.everyday_stores, show_default=True,
              help="Training stores of generated everyday agent memories.")
@click.option("--unanswerable", type=float, default=ReaderConfig.unanswerable, show_default=True,
              help="Unanswerable questions per everyday memory, taught to answer that the notes do not say.")
@click.option("--memories", type=int, default=ReaderConfig.memories, show_default=True)
@click.option("--abstain", type=float, default=ReaderConfig.abstain, show_default=True,
              help="Fraction of examples without their gold note, taught to answer that the notes do not say.")
@click.option("--val-questions", type=int, default=100, show_default=True, help="0: no evaluation.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default="cpu", show_default=True)
def train_reader_cmd(checkpoint: Path, out: Path, steps: int, batch_tokens: int, lr: float, rank: int,
                     stores: int, everyday_stores: int, unanswerable: float, memories: int, abstain: float,
                     val_questions: int, seed: int, device: str) -> None:
    """Train a reader adapter for CHECKPOINT (any adapter already in it is ignored) on text-mode prompts.

    Held-out answer rates (gold note alone, among 12 notes, gold missing) are logged after training.
    Copy OUT/reader_adapter.safetensors into a checkpoint directory to use it.
    """
    model = MSAModel.from_pretrained(checkpoint, device=device, reader=False)
    cfg = ReaderConfig(steps=steps, batch_tokens=batch_tokens, lr=lr, rank=rank, alpha=2.0 * rank, stores=stores,
                       everyday_stores=everyday_stores, unanswerable=unanswerable, memories=memories,
                       abstain=abstain, seed=seed)

    def on_eval(record: dict) -> None:
        click.echo(json.dumps({k: record[k] for k in ("step", "loss", "answer_rate")}), err=True)

    with click.progressbar(length=steps, label="training reader", file=sys.stderr) as bar:
        train_reader(model, out, cfg, validation_sets(val_questions, seed),
                     on_step=lambda step, loss: bar.update(1), on_eval=on_eval)
    click.echo(f"reader adapter written to {out / READER_FILE}")
