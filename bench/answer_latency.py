"""A whole answer on one GPU, as a user waits for it: the engine's own write and query paths over a real LMDB
store, in a chosen geometry (MSA-4B's by default, random weights), decoding steps eager, replayed from a CUDA
graph, and replayed from a graph of the model without its fused RMSNorm / RoPE kernels, side by side in one run.

    python bench/answer_latency.py [--preset msa-4b] [--documents 256] [--questions 6] [--max-new-tokens 32]
        [--read-modes kv text] [--concurrency 1 8 32] [--workdir DIR] [--json OUT] [--profile FILE]

Per read mode and decoding path (the same questions, the paths rotating question by question, after a round
that warms every path): time to the first token, the engine's split of it (route, K/V fetch, prefill), the
median gap between later tokens, the first gap, the whole answer, and the first two gaps of the warming answer
(a graph's eager first step and its capture; later answers of the shape replay it). The floor of a decoding
step is the weights read once at the device's measured copy rate. Concurrent questions: answers per second with
N threads asking at once. `--workdir` keeps the random checkpoint between runs on one machine (writing MSA-4B's
8 GB takes ~1 min). Memories are random words (one token each in the random checkpoint's tokenizer), 256-4,096 tokens.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import itertools
import json
import os
import platform
import random
import statistics
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from msa.kernels.rms_norm import naive as norm_naive
from msa.kernels.rope import naive as rope_naive
from msa.memstore.engine import Engine
from msa.memstore.engine.results import Answer, WriteItem
from msa.model import decoder
from msa.model.api import MSAModel
from msa.model.checkpoints.random_checkpoint import WORDS, write_random_checkpoint
from msa.model.generate import Token

NS = "bench"


def documents(n: int, low: int, high: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(low, high))) + "." for _ in range(n)]


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def copy_rate(device: str) -> float:
    """Bytes/s of a 1 GiB device-to-device copy (read + write counted once each)."""
    a = torch.empty(1 << 30, dtype=torch.uint8, device=device)
    b = torch.empty_like(a)
    for _ in range(3):
        b.copy_(a)
    sync(device)
    start, reps = time.perf_counter(), 20
    for _ in range(reps):
        b.copy_(a)
    sync(device)
    return 2 * a.numel() * reps / (time.perf_counter() - start)


def ask(engine: Engine, question: str, **options) -> dict:
    """One answer through the engine: times of the first token and of each later one, and its timings."""
    start = time.perf_counter()
    stamps, answer = [], None
    for event in engine.query(NS, question, **options):
        if isinstance(event, Token):
            stamps.append(time.perf_counter())
        elif isinstance(event, Answer):
            answer = event
    end = time.perf_counter()
    gaps = [1e3 * (b - a) for a, b in itertools.pairwise(stamps)]
    if len(gaps) < 2:
        raise RuntimeError(f"an answer of {len(stamps)} tokens has no decoding steps to time: raise --max-new-tokens")
    return {"ttft": 1e3 * (stamps[0] - start), "gaps": gaps, "total": 1e3 * (end - start),
            "tokens": len(stamps), "timings": answer.timings_ms}


@contextlib.contextmanager
def decoding(path: str) -> Iterator[None]:
    """eager: every step launches its kernels; graph: steps replay a CUDA graph; batch: answers decoding at the
    same time share steps (`MSA_BATCH_DECODE=1`, graphs of the batch); unfused: the model before RMSNorm and RoPE
    had kernels of their own (their plain-torch oracles patched in, for the prompt's prefill too), its steps
    replayed from a graph."""
    os.environ["MSA_CUDA_GRAPHS"] = "0" if path == "eager" else "1"
    os.environ["MSA_BATCH_DECODE"] = "1" if path == "batch" else "0"
    saved = decoder.rms_norm, decoder.rope
    if path == "unfused":
        decoder.rms_norm, decoder.rope = norm_naive.rms_norm, rope_naive.rope
    try:
        yield
    finally:
        decoder.rms_norm, decoder.rope = saved
        os.environ.pop("MSA_CUDA_GRAPHS")
        os.environ.pop("MSA_BATCH_DECODE")


def measure(engine: Engine, questions: list[str], read_mode: str, max_new_tokens: int, paths: list[str]
            ) -> dict[str, list[dict]]:
    """Each question down every path (the order rotating question by question), after one warm-up of each."""
    runs: dict[str, list[dict]] = {path: [] for path in paths}
    for i, question in enumerate([questions[0], *questions]):
        for path in paths[i % len(paths):] + paths[:i % len(paths)]:
            with decoding(path):
                run = ask(engine, question, read_mode=read_mode, max_new_tokens=max_new_tokens)
            run["warm_up"] = i == 0  # the first round warms every path (a graph's capture is in its first gaps)
            runs[path].append(run)
    return runs


def summary(all_runs: list[dict]) -> dict[str, float]:
    med = statistics.median
    runs = [r for r in all_runs if not r["warm_up"]]
    first = next(r for r in all_runs if r["warm_up"])
    return {"warm_up_gaps": sum(first["gaps"][:2]),
            "ttft": med(r["ttft"] for r in runs), "route": med(r["timings"]["route"] for r in runs),
            "fetch": med(r["timings"]["fetch"] for r in runs), "prefill": med(r["timings"]["prefill"] for r in runs),
            "step": med(g for r in runs for g in r["gaps"][1:]), "first_gap": med(r["gaps"][0] for r in runs),
            "total": med(r["total"] for r in runs), "tokens": med(r["tokens"] for r in runs)}


def concurrent(engine: Engine, questions: list[str], threads: int, read_mode: str, max_new_tokens: int) -> float:
    """Answers per second with `threads` questions asked at once (each thread asks its share in turn)."""
    asked = [questions[i % len(questions)] for i in range(max(threads, 8))]
    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda q: ask(engine, q, read_mode=read_mode, max_new_tokens=max_new_tokens), asked))
    return len(asked) / (time.perf_counter() - start)


def profile_answers(engine: Engine, question: str, read_mode: str, paths: list[str], path: Path) -> None:
    """The profiler's op tables of one answer of 8 tokens down each path (where a decoding step's time goes)."""
    from torch.profiler import ProfilerActivity, profile

    with path.open("w") as out:
        for name in paths:
            with decoding(name), profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
                ask(engine, question, read_mode=read_mode, max_new_tokens=8)
            for key in ("cpu_time_total", "self_device_time_total"):
                out.write(f"## {read_mode}, {name}, 8 tokens, by {key}\n"
                          f"{prof.key_averages().table(sort_by=key, row_limit=30)}\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", help="model directory [a random checkpoint of --preset]")
    ap.add_argument("--preset", default="msa-4b")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--dtype", default="bfloat16")
    ap.add_argument("--documents", type=int, default=256)
    ap.add_argument("--words", type=int, nargs=2, default=(256, 4096), help="shortest and longest memory")
    ap.add_argument("--questions", type=int, default=6)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--read-modes", nargs="+", default=["kv", "text"])
    ap.add_argument("--paths", nargs="+", default=["eager", "graph", "batch", "unfused"],
                    help="decoding paths to compare")
    ap.add_argument("--concurrency", type=int, nargs="*", default=[1, 8, 32])
    ap.add_argument("--workdir", type=Path, help="keep the random checkpoint here between runs")
    ap.add_argument("--json", type=Path, help="append the result row here")
    ap.add_argument("--profile", type=Path, help="write the profile of an answer down each path here")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or Path(tmp)
        start = time.perf_counter()
        path = Path(args.checkpoint) if args.checkpoint else workdir / f"random-{args.preset}"
        if not (path / "config.json").exists():
            write_random_checkpoint(path, family="qwen3", preset=args.preset, dtype=args.dtype)
        model = MSAModel.from_pretrained(path, device=args.device, dtype=args.dtype)
        print(f"model ready in {time.perf_counter() - start:.1f} s", flush=True)
        weight_bytes = sum(p.numel() * p.element_size() for p in model.transformer.parameters())

        engine = Engine.open(Path(tmp) / "store", model, create=True)
        engine.create_namespace(NS)
        texts = documents(args.documents, *args.words)
        start, written = time.perf_counter(), 0
        for i in range(0, len(texts), 16):
            engine.write(NS, [WriteItem(t, id=f"m{j}") for j, t in enumerate(texts[i:i + 16], i)])
            written += sum(len(t.split()) + 1 for t in texts[i:i + 16])
        ingest = written / (time.perf_counter() - start)
        print(f"stored {len(texts)} memories, ~{written} tokens, {ingest:.0f} tokens/s", flush=True)

        rng = random.Random(1)
        questions = [" ".join(rng.choice(WORDS) for _ in range(12)) + "?" for _ in range(args.questions)]
        results, rates = {}, {}
        if args.profile:
            profile_answers(engine, questions[0], args.read_modes[0], args.paths, args.profile)
        for mode in args.read_modes:
            runs = measure(engine, questions, mode, args.max_new_tokens, args.paths)
            results[mode] = {path: summary(r) for path, r in runs.items()}
            print(mode, results[mode], flush=True)
            for path in args.paths:
                for threads in args.concurrency:
                    with decoding(path):
                        rate = rates[f"{mode}/{path}/{threads}"] = concurrent(
                            engine, questions, threads, mode, args.max_new_tokens)
                    print(f"{mode}, {path}, {threads} at once: {rate:.2f} answers/s", flush=True)
        engine.close()
    floor = 1e3 * weight_bytes / copy_rate(args.device)
    device = torch.cuda.get_device_name() if args.device.startswith("cuda") else platform.processor() or "cpu"
    row = {"date": str(datetime.date.today()), "device": device, "preset": args.preset,
           "dtype": args.dtype, "memories": len(texts), "memory_tokens": written, "ingest_tokens_per_s": round(ingest),
           "max_new_tokens": args.max_new_tokens, "step_floor_ms": round(floor, 3), "results": results,
           "answers_per_s": {k: round(v, 2) for k, v in rates.items()}}
    print(f"\n{row['device']}, {args.preset} {args.dtype}, {len(texts)} memories (~{written} tokens), "
          f"{args.max_new_tokens} new tokens; decoding step floor {floor:.2f} ms (weights at the copy rate)")
    print("| read | decoding | first token ms | route | fetch | prefill | step ms (median) | first gap | "
          "whole answer ms | first answer's first two gaps |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for mode, paths in results.items():
        for name, s in paths.items():
            print(f"| {mode} | {name} | {s['ttft']:.1f} | {s['route']:.1f} | {s['fetch']:.1f} | {s['prefill']:.1f} | "
                  f"{s['step']:.2f} | {s['first_gap']:.1f} | {s['total']:.0f} | {s['warm_up_gaps']:.0f} |")
    if rates:
        print("\n| read | decoding | concurrent questions | answers/s | vs one at a time down that path |")
        print("|---|---|---|---|---|")
        for key, rate in rates.items():
            mode, path, threads = key.split("/")
            base = rates.get(f"{mode}/{path}/1", rate)
            print(f"| {mode} | {path} | {threads} | {rate:.2f} | {rate / base:.2f}x |")
    if args.json:
        with args.json.open("a") as f:
            f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
