"""A store of many tokens, opened and asked: how long the routing index takes to load and what a question costs
at that size (issue 20: 100M tokens on one GPU).

    python -m bench.large_store --tokens 1e8 --device cuda [--doc-tokens 2048] [--questions 20] [--workdir DIR]
        [--concurrency 1 8 32]

The model is a random checkpoint in the embedded default's geometry (`--preset`). Memories are written straight
into the store's format, not encoded by the model (stated as such wherever the numbers are used): each has its
own random routing keys (unit-norm, what routing reads), token ids and a short text, and its pooled K/V come
from a pool of 64 random encodings (only selected documents' K/V are ever read). Three timings: the write
(`Store.write` alone: tokens/s, bytes on disk per token), the open (`Engine.open` and the namespace's routing
index loaded onto the device: the time to serving, with the store's files first dropped from the page cache),
and questions through the engine's query path (kv reading, up to 32 new tokens, greedy, after one warming
question): route + fetch, first token and the whole answer, p50 / p95, and the tokens answers had. Then
questions asked at once (`--concurrency`, answers decoding together): answers per second against one at a time.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from bench import at_once
from msa.memstore.engine import Engine
from msa.memstore.engine.results import Answer
from msa.memstore.storage.records import Encoding, NewDocument
from msa.model.api import MSAModel
from msa.model.checkpoints.random_checkpoint import WORDS, write_random_checkpoint
from msa.model.config import ModelConfig
from msa.model.generate import Token

NS = "large"
POOL = 64  # distinct content encodings the documents share


def content_pool(cfg: ModelConfig, chunks: int, dtype: torch.dtype, seed: int) -> list[dict[int, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    shape = (chunks, cfg.num_key_value_heads, cfg.head_dim)
    return [{layer: torch.randn(shape, generator=g).to(dtype) for layer in cfg.msa.router_layers}
            for _ in range(POOL)]


def documents(cfg: ModelConfig, first: int, count: int, chunks: int, dtype: torch.dtype,
              keys: list[dict[int, torch.Tensor]], values: list[dict[int, torch.Tensor]]) -> list[NewDocument]:
    """Documents first .. first+count-1: their own routing keys and token ids, pooled K/V from the pools."""
    g = torch.Generator().manual_seed(first)
    shape = (count, chunks, cfg.num_key_value_heads, cfg.head_dim)
    routing = {layer: F.normalize(torch.randn(shape, generator=g), dim=-1).to(dtype)
               for layer in cfg.msa.router_layers}
    ids = torch.randint(0, cfg.vocab_size, (count, chunks * cfg.msa.pooling_kernel_size), generator=g).tolist()
    return [NewDocument(f"m{first + i}", f"memory {first + i}: " + " ".join(WORDS[(first + i + j) % len(WORDS)]
                                                                            for j in range(8)), {},
                        Encoding(ids[i], keys[(first + i) % POOL], values[(first + i) % POOL],
                                 {layer: r[i] for layer, r in routing.items()}))
            for i in range(count)]


def write_store(path: Path, model: MSAModel, tokens: int, doc_tokens: int, batch: int) -> tuple[int, float]:
    """A new store at `path` -> (tokens written, seconds in `Store.write`)."""
    cfg, dtype, chunk = model.config, model.dtype, model.config.msa.pooling_kernel_size
    chunks = max(1, doc_tokens // chunk)
    keys, values = (content_pool(cfg, chunks, dtype, seed) for seed in (1, 2))
    total_docs = max(1, tokens // (chunks * chunk))
    shutil.rmtree(path, ignore_errors=True)
    engine = Engine.open(path, model, create=True)
    engine.create_namespace(NS)
    seconds, written, last = 0.0, 0, time.perf_counter()
    for first in range(0, total_docs, batch):
        docs = documents(cfg, first, min(batch, total_docs - first), chunks, dtype, keys, values)
        start = time.perf_counter()
        engine.store.write(NS, docs)
        seconds += time.perf_counter() - start
        written += sum(len(d.encoding.token_ids) for d in docs)
        if time.perf_counter() - last > 10:
            last = time.perf_counter()
            print(f"  written {written:,} tokens, {written / seconds:,.0f} tokens/s", flush=True)
    engine.close()
    return written, seconds


def drop_from_page_cache(path: Path) -> None:
    """The store's files out of the OS page cache, so the open reads them from disk (Linux; else nothing)."""
    for f in path.iterdir():
        with f.open("rb") as fh:
            if hasattr(os, "posix_fadvise"):
                os.posix_fadvise(fh.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)


def ask(engine: Engine, question: str, max_new_tokens: int) -> dict:
    start, first, answer = time.perf_counter(), None, None
    for event in engine.query(NS, question, read_mode="kv", max_new_tokens=max_new_tokens):
        if isinstance(event, Token) and first is None:
            first = time.perf_counter()
        elif isinstance(event, Answer):
            answer = event
    end = time.perf_counter()
    t = answer.timings_ms
    return {"route_fetch": t["route"] + t["fetch"], "route": t["route"], "fetch": t["fetch"],
            "prefill": t["prefill"], "decode": t["decode"],
            "ttft": 1e3 * ((first or end) - start), "total": 1e3 * (end - start), "tokens": answer.completion_tokens}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=float, default=1e6)
    ap.add_argument("--doc-tokens", type=int, default=2048, help="tokens per memory (a multiple of 64)")
    ap.add_argument("--batch", type=int, default=256, help="memories per transaction")
    ap.add_argument("--preset", default="smollm2-135m")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default=None, help="[bfloat16 on a GPU, float32 on the CPU]")
    ap.add_argument("--questions", type=int, default=10)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--concurrency", type=int, nargs="*", default=[1, 8, 32],
                    help="questions asked at once (answers per second; none: skip)")
    ap.add_argument("--workdir", type=Path, help="keep the checkpoint and the store here (else a temporary folder)")
    ap.add_argument("--json", type=Path, help="append the result row here")
    args = ap.parse_args()
    dtype = args.dtype or ("bfloat16" if args.device.startswith("cuda") else "float32")
    with tempfile.TemporaryDirectory() as tmp:
        work = args.workdir or Path(tmp)
        checkpoint = work / f"random-{args.preset}"
        if not (checkpoint / "config.json").exists():
            write_random_checkpoint(checkpoint, family="llama", preset=args.preset, dtype=dtype)
        model = MSAModel.from_pretrained(checkpoint, device=args.device, dtype=dtype)
        store = work / "store"
        written, write_s = write_store(store, model, int(args.tokens), args.doc_tokens, args.batch)
        disk = sum(f.stat().st_size for f in store.iterdir())
        print(f"wrote {written:,} tokens in {write_s:.1f} s ({written / write_s:,.0f} tokens/s), "
              f"{disk / written:.1f} bytes on disk per token", flush=True)

        drop_from_page_cache(store)
        start = time.perf_counter()
        engine = Engine.open(store, model)
        engine.index.snapshot(NS)  # the namespace's routing keys on the device: ready to route
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        open_s = time.perf_counter() - start
        print(f"opened and loaded in {open_s:.1f} s", flush=True)

        rng = random.Random(0)
        questions = [" ".join(rng.choice(WORDS) for _ in range(12)) + "?" for _ in range(args.questions + 1)]
        ask(engine, questions[0], args.max_new_tokens)  # first-call costs out of the timings
        runs = [ask(engine, q, args.max_new_tokens) for q in questions[1:]]
        asked = [" ".join(rng.choice(WORDS) for _ in range(12)) + "?" for _ in range(128)]
        rates, stages = at_once.widths(lambda q: ask(engine, q, args.max_new_tokens), asked, args.concurrency)
        engine.close()
    device = torch.cuda.get_device_name() if args.device.startswith("cuda") else platform.processor() or "cpu"
    row = {"date": str(datetime.date.today()), "device": device, "preset": args.preset, "dtype": dtype,
           "tokens": written, "write_tokens_per_s": round(written / write_s),
           "bytes_per_token": round(disk / written, 1), "open_s": round(open_s, 2),
           "answers_per_s": {str(k): round(v, 2) for k, v in rates.items()},
           "at_once_median_ms": {str(k): t for k, t in stages.items()}}
    for key in runs[0]:
        values = [r[key] for r in runs]
        row[f"{key}_p50"], row[f"{key}_p95"] = round(statistics.median(values), 2), round(percentile(values, 0.95), 2)
    print("| device | tokens | write tok/s | bytes/token | open s | route+fetch p50 / p95 ms | first token p50 ms | "
          "answer p50 / p95 ms | answer tokens p50 |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(f"| {device} | {written:,} | {row['write_tokens_per_s']:,} | {row['bytes_per_token']} | {open_s:.1f} | "
          f"{row['route_fetch_p50']:.1f} / {row['route_fetch_p95']:.1f} | {row['ttft_p50']:.1f} | "
          f"{row['total_p50']:.0f} / {row['total_p95']:.0f} | {row['tokens_p50']:.0f} |")
    if rates:
        print("\n" + at_once.table(rates, stages))
    if args.json:
        with args.json.open("a") as f:
            f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
