"""A whole answer over 1M-100M tokens of memory in MSA-4B's geometry on one GPU (issue 22), at sizes whose store
this machine's disk cannot hold (100M tokens of MSA-4B are ~58 GB of routing keys and ~115 GB of pooled K/V).

    python -m bench.answer_at_scale --tokens 1e8 [--preset msa-4b] [--doc-tokens 1024] [--questions 6]
        [--read-modes kv text] [--concurrency 1 8 32] [--workdir DIR] [--json OUT]

Stated wherever its numbers are used: the routing keys are generated straight into a routing-index slab on the
device (each document its own, unit-norm: what routing reads), each document's pooled K/V is one of a pool of 64
encodings held in host memory (where the content cache keeps them) and its text one of 64 texts of random words
(one token each in the random checkpoint's tokenizer). Questions go through the model's own query path
(`MSAModel.stream`) over the engine's memory class (`StoreMemory`: routing through the call batcher, a question's
K/V rows copied from host memory to the device); LMDB is not in the path (no records read, no citations).
Per read mode, after a warming question (medians): the first token as streamed (the model holds a token until it
has chosen the next, so this is route + fetch + prefill + one step), route / fetch / prefill, the median step
and the whole answer. Then questions asked at once (answers decoding together, `MSA_BATCH_DECODE=1`,
after an untimed round at that width): answers per second and each stage's median.
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import json
import platform
import random
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm import tqdm

from bench import at_once
from msa.memstore.engine.options import QueryOptions
from msa.memstore.engine.results import answer_timings
from msa.memstore.index.routing_index import Slab, SlabSnapshot
from msa.memstore.index.store_memory import StoreMemory
from msa.memstore.storage.records import Document
from msa.model.api import MSAModel
from msa.model.call_batcher import CallBatcher
from msa.model.checkpoints.random_checkpoint import WORDS, write_random_checkpoint
from msa.model.generate import GenerationResult, Retrieved, Token

NS = "scale"
POOL = 64  # distinct K/V encodings and texts the documents share
PART = 512  # documents generated and added to the slab at a time


class PooledContent:
    """What `StoreMemory` reads besides routing keys, from pools: a document's pooled K/V (`ContentCache.get`)
    and its record (`Store.by_ordinals`) are those of its number modulo the pool."""

    def __init__(self, model: MSAModel, chunks: int, doc_tokens: int, seed: int = 0) -> None:
        cfg = model.config
        g = torch.Generator().manual_seed(seed)
        shape = (chunks, cfg.num_key_value_heads, cfg.head_dim)
        self.kv = [{layer: (torch.randn(shape, generator=g).to(model.dtype),
                            torch.randn(shape, generator=g).to(model.dtype)) for layer in cfg.msa.router_layers}
                   for _ in range(POOL)]
        rng, now = random.Random(seed), time.time()
        self.records = [Document(NS, f"m{i}", i, 1, " ".join(rng.choice(WORDS) for _ in range(doc_tokens)) + ".",
                                 {}, doc_tokens, chunks, now, now) for i in range(POOL)]

    def get(self, ns: str, ordinals: list[int], layer: int) -> dict[int, tuple[Tensor, Tensor]]:
        return {o: self.kv[o % POOL][layer] for o in ordinals}

    def by_ordinals(self, ns: str, ordinals: list[int]) -> dict[int, Document]:
        return {o: self.records[o % POOL] for o in ordinals}


def routing_slab(model: MSAModel, documents: int, chunks: int) -> Slab:
    """Every document's own unit-norm routing keys [chunks, G, D] per router layer, generated on the device in
    parts and added to one slab sized for all of them (no buffer grows)."""
    cfg, device = model.config, model.device
    layers = list(cfg.msa.router_layers)
    slab = Slab(device, model.dtype, compact_ratio=0.25, layers=layers, capacity=documents * chunks)
    g = torch.Generator(device=device).manual_seed(0)
    shape = (chunks, cfg.num_key_value_heads, cfg.head_dim)
    for first in tqdm(range(0, documents, PART), desc="routing keys", unit="part"):
        count = min(PART, documents - first)
        keys = {layer: F.normalize(torch.randn(count, *shape, generator=g, device=device), dim=-1).to(model.dtype)
                for layer in layers}
        slab.apply([(first + i, {layer: k[i] for layer, k in keys.items()}) for i in range(count)], [])
    return slab


def ask(model: MSAModel, snapshot: SlabSnapshot, content: PooledContent, batcher: CallBatcher, question: str,
        **options) -> dict:
    """One answer timed as the engine times it: route and fetch from the memory's own clocks, prefill the rest
    up to the retrieval, decode after it; and the gaps between tokens."""
    memory = StoreMemory(NS, snapshot, content, content, batcher)
    start, stamps = time.perf_counter(), []
    retrieved, spent = start, dict(memory.spent)
    for item in model.stream(question, memory, **QueryOptions(**options).generation()):
        if isinstance(item, Retrieved):
            retrieved, spent = time.perf_counter(), dict(memory.spent)
        elif isinstance(item, Token):
            stamps.append(time.perf_counter())
        elif isinstance(item, GenerationResult):
            tokens = len(item.token_ids)
    end = time.perf_counter()
    gaps = [1e3 * (b - a) for a, b in itertools.pairwise(stamps)]
    return {**answer_timings(start, start, retrieved, end, spent, memory.spent),  # no snapshot step here
            "ttft": 1e3 * ((stamps[0] if stamps else end) - start),
            "step": statistics.median(gaps[1:]) if len(gaps) > 1 else float("nan"), "tokens": tokens}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=float, default=1e6)
    ap.add_argument("--doc-tokens", type=int, default=1024, help="tokens per memory (a multiple of 64)")
    ap.add_argument("--preset", default="msa-4b")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--dtype", default=None, help="[bfloat16 on a GPU, float32 on the CPU]")
    ap.add_argument("--questions", type=int, default=6)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--read-modes", nargs="+", default=["kv", "text"])
    ap.add_argument("--concurrency", type=int, nargs="*", default=[1, 8, 32],
                    help="kv questions asked at once (answers per second; none: skip)")
    ap.add_argument("--workdir", type=Path, help="keep the random checkpoint here between runs")
    ap.add_argument("--json", type=Path, help="append the result row here")
    args = ap.parse_args()
    dtype = args.dtype or ("bfloat16" if args.device.startswith("cuda") else "float32")
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = (args.workdir or Path(tmp)) / f"random-{args.preset}"
        if not (checkpoint / "config.json").exists():
            family = "qwen3" if args.preset == "msa-4b" else "llama"
            write_random_checkpoint(checkpoint, family=family, preset=args.preset, dtype=dtype)
        model = MSAModel.from_pretrained(checkpoint, device=args.device, dtype=dtype)
    pooling = model.config.msa.pooling_kernel_size
    if args.doc_tokens % pooling:
        raise SystemExit(f"--doc-tokens must be a multiple of {pooling}")
    chunks, documents = args.doc_tokens // pooling, max(1, round(args.tokens / args.doc_tokens))
    start = time.perf_counter()
    slab = routing_slab(model, documents, chunks)
    snapshot = SlabSnapshot(slab.views)
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    print(f"{documents:,} memories, {documents * args.doc_tokens:,} tokens, routing keys "
          f"{slab.key_bytes / 2**30:.1f} GiB, made in {time.perf_counter() - start:.1f} s", flush=True)
    content, batcher = PooledContent(model, chunks, args.doc_tokens), CallBatcher()
    rng = random.Random(1)
    questions = [" ".join(rng.choice(WORDS) for _ in range(12)) + "?" for _ in range(128)]

    def asking(mode: str):
        return lambda q: ask(model, snapshot, content, batcher, q, read_mode=mode, max_new_tokens=args.max_new_tokens)

    results = {}
    for mode in args.read_modes:
        runs = [asking(mode)(q) for q in questions[: args.questions + 1]][1:]  # the first warms the path
        results[mode] = at_once.medians(runs)
        print(mode, results[mode], flush=True)
    rates, stages = at_once.widths(asking("kv"), questions, args.concurrency)

    device = torch.cuda.get_device_name() if args.device.startswith("cuda") else platform.processor() or "cpu"
    print(f"\n{datetime.date.today()}; {device}; {args.preset}, {dtype}; {documents * args.doc_tokens:,} tokens of "
          f"memory in {documents:,} memories of {args.doc_tokens} tokens; {args.max_new_tokens} new tokens, greedy")
    print("| read mode | first token ms | route | fetch | prefill | step ms | whole answer ms | tokens |")
    print("|---|---|---|---|---|---|---|---|")
    for mode, r in results.items():
        print(f"| {mode} | {r['ttft']:.1f} | {r['route']:.1f} | {r['fetch']:.1f} | {r['prefill']:.1f} | "
              f"{r['step']:.2f} | {r['total']:.0f} | {r['tokens']:.0f} |")
    if rates:
        print("\n" + at_once.table(rates, stages))
    if args.json:
        row = {"date": str(datetime.date.today()), "device": device, "preset": args.preset, "dtype": dtype,
               "tokens": documents * args.doc_tokens, "doc_tokens": args.doc_tokens, "read": results,
               "answers_per_s": {str(k): round(v, 2) for k, v in rates.items()},
               "at_once_median_ms": {str(k): t for k, t in stages.items()}}
        with args.json.open("a") as f:
            f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
