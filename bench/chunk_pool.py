"""Chunk mean pooling of packed documents, MSA-4B geometry, against the device copy rate.

    python bench/chunk_pool.py [--tokens 1e5 1e6 4e6]

bf16 K of 8 KV heads x 128 dims per token, documents of 1,000-3,000 tokens, 64-token chunks. Bytes moved =
input read + output written; the floor is those bytes at the device-to-device copy rate measured in the
same run (a copy's rate counts its read and its write). Rows: the oracle, `torch.compile` of it, the kernel
(given host boundaries, as encoding does: its chunk geometry is cached per packing, so a row times the
kernel and the cache lookup).
"""

from __future__ import annotations

import argparse
import datetime

import torch

from bench.route import copy_rate, timed_ms
from msa.kernels.chunk_pool import fused, naive

GROUPS, DIM, CHUNK = 8, 128, 64


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=float, nargs="+", default=[1e5, 1e6, 4e6])
    args = ap.parse_args()
    rate = copy_rate(1 << 31)
    compiled = torch.compile(naive.chunk_pool, dynamic=True)
    print(f"{datetime.date.today()}; {torch.cuda.get_device_name()}; device copy {rate / 1e9:.0f} GB/s")
    print("| tokens | GB moved | floor (ms) | path | ms | % of floor |")
    print("|---|---|---|---|---|---|")
    for tokens in args.tokens:
        measure(int(tokens), rate, compiled)
        torch.cuda.empty_cache()


def measure(tokens: int, rate: float, compiled) -> None:
    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(1000, 3001, (tokens // 2000 + 1,), generator=g)
    cu = torch.zeros(len(lengths) + 1, dtype=torch.long)
    cu[1:] = lengths.cumsum(0)
    cu_dev = cu.cuda()
    x = torch.randn(int(cu[-1]), GROUPS, DIM, device="cuda", dtype=torch.bfloat16)
    pooled, _ = fused.chunk_pool(x, cu, CHUNK)
    moved = (x.numel() + pooled.numel()) * x.element_size()
    floor = moved / rate * 1e3
    head = f"| {int(cu[-1]):,} | {moved / 1e9:.2f} | {floor:.3f}"
    for name, fn in (("torch oracle", lambda: naive.chunk_pool(x, cu_dev, CHUNK)),
                     ("torch.compile(oracle)", lambda: compiled(x, cu_dev, CHUNK)),
                     ("fused kernel", lambda: fused.chunk_pool(x, cu, CHUNK))):
        try:
            ms = timed_ms(fn)
        except Exception as e:  # a compile failure is a result too
            print(f"{head} | {name} | failed: {type(e).__name__} | |", flush=True)
            continue
        print(f"{head} | {name} | {ms:.3f} | {100 * floor / ms:.0f} |", flush=True)
    err = float((pooled.float() - naive.chunk_pool(x, cu_dev, CHUNK)[0].float()).abs().max())
    print(f"<!-- max |kernel - oracle| = {err:.2e} (bf16 output) -->")

if __name__ == "__main__":
    main()
