"""Questions asked at once with batched decoding (`MSA_BATCH_DECODE=1`): answers per second against one at a
time, and where each answer's time goes as the width grows. Shared by the benchmarks that ask through the
engine (`large_store.py`) and straight through the model (`answer_at_scale.py`)."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

STAGES = ("route", "fetch", "prefill", "decode", "ttft", "total")  # what every `ask` reports, in ms


def medians(runs: list[dict]) -> dict[str, float]:
    return {key: round(statistics.median(r[key] for r in runs), 2) for key in runs[0]}


def widths(ask: Callable[[str], dict], questions: list[str], counts: list[int]) -> tuple[dict, dict]:
    """Per width N: N threads asking in turn `max(4N, 16)` questions, after an untimed round of N (a new batch
    shape's first step captures its graph) -> ({N: answers/s}, {N: each stage's median over the answers})."""
    rates, stages = {}, {}
    os.environ["MSA_BATCH_DECODE"] = "1"
    try:
        for n in counts:
            asked = questions[: max(4 * n, 16)]
            with ThreadPoolExecutor(n) as pool:
                list(pool.map(ask, asked[:n]))
                start = time.perf_counter()
                runs = list(pool.map(ask, asked))
                rates[n] = len(asked) / (time.perf_counter() - start)
            stages[n] = medians(runs)
            print(f"{n} at once: {rates[n]:.2f} answers/s", flush=True)
    finally:
        os.environ.pop("MSA_BATCH_DECODE")
    return rates, stages


def table(rates: dict, stages: dict) -> str:
    """The markdown table of `widths`' results, ratios against the narrowest width."""
    base = rates.get(1) or next(iter(rates.values()))
    lines = ["| questions at once | answers/s | vs 1 at a time | median ms: route / fetch / prefill / decode / "
             "first token / answer |", "|---|---|---|---|"]
    for n, rate in rates.items():
        t = stages[n]
        lines.append(f"| {n} | {rate:.2f} | {rate / base:.2f}x | "
                     + " / ".join(f"{t[key]:.1f}" for key in STAGES[:-1]) + f" / {t['total']:.0f} |")
    return "\n".join(lines)
