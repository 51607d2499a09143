"""Routing one question against one router layer's keys, MSA-4B geometry, against the copy-bandwidth floor.

    python bench/route.py [--tokens 1e6 1e7 1e8] [--routing-tokens 16]

Random unit-norm bf16 routing keys (8 KV heads, head_dim 128, 64-token chunks), 32 query heads, documents
of 16 chunks. Floor: the key bytes at the device-to-device copy rate measured in the same run (a copy
reads and writes, so rate = 2 x bytes / time). Rows: the plain-torch oracle, `torch.compile` of it, the
fused Triton kernel (chunk scores), and the whole op (kernel + per-document max + top-16); then the same
kernel over fp8 keys (e4m3 values + one fp32 factor per chunk and KV head, the bytes it reads) against
their own floor, and the top-16 overlap of fp8 with bf16 routing on these (random) keys.
"""

from __future__ import annotations

import argparse
import datetime

import torch
import torch.nn.functional as F

from msa.kernels.route import fused, naive, top_k
from msa.kernels.route.fp8 import quantize
from msa.kernels.route.naive import RouteSpec, doc_scores

GROUPS, HEADS, DIM, CHUNK, DOC_CHUNKS = 8, 32, 128, 64, 16
WHOLE = "whole op"


def timed_ms(fn, repeats: int = 20, queued: int = 1) -> float:
    """Median milliseconds per fn() with CUDA events, over `queued` calls issued back to back: 1 times one
    call on an idle GPU (host preamble included), more times what the GPU spends per call when the host
    runs ahead (as between a query's router layers)."""
    fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(queued):
            fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / queued)
    return sorted(times)[len(times) // 2]


def graph_ms(fn) -> float:
    """Median milliseconds of fn() replayed from a CUDA graph: GPU time alone, no host launch cost (fn must
    not synchronise with the host)."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):  # warm-up (autotuning, allocator) outside the capture
            fn()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn()
    return timed_ms(graph.replay)


def copy_rate(nbytes: int) -> float:
    """Device-to-device bytes moved per second (read + write)."""
    src = torch.empty(nbytes, dtype=torch.uint8, device="cuda")
    dst = torch.empty_like(src)
    return 2 * nbytes / (timed_ms(lambda: dst.copy_(src)) / 1e3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=float, nargs="+", default=[1e6, 1e7, 1e8])
    ap.add_argument("--routing-tokens", type=int, default=16)
    ap.add_argument("--no-compile", action="store_true")
    args = ap.parse_args()
    spec = RouteSpec()
    q = torch.randn(args.routing_tokens, HEADS, DIM, device="cuda")
    compiled = None if args.no_compile else torch.compile(naive.chunk_scores)
    rate = copy_rate(1 << 31)
    print(f"{datetime.date.today()}; {torch.cuda.get_device_name()}; device copy {rate / 1e9:.0f} GB/s; "
          f"{args.routing_tokens} routing tokens, {HEADS} query heads, {GROUPS} x {DIM} keys per chunk, bf16")
    print("| tokens | chunks | key GB | floor (ms) | path | ms, one call | ms per call, 10 queued | ms, GPU alone "
          "(graph) | % of floor (GPU alone, else queued) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for tokens in args.tokens:
        measure(int(tokens), q, spec, rate, compiled)
        torch.cuda.empty_cache()


def measure(tokens: int, q: torch.Tensor, spec: RouteSpec, rate: float, compiled) -> None:
    chunks = tokens // CHUNK
    keys = F.normalize(torch.randn(chunks, GROUPS, DIM, device="cuda"), dim=-1).to(torch.bfloat16)
    owner = torch.arange(chunks, device="cuda") // DOC_CHUNKS
    docs = int(owner[-1]) + 1
    nbytes = keys.numel() * keys.element_size()
    floor = nbytes / rate * 1e3
    paths = {"torch oracle": lambda: naive.chunk_scores(q, keys, spec)}
    if compiled is not None:
        paths["torch.compile(oracle)"] = lambda: compiled(q, keys, spec)
    paths["fused kernel (chunk scores)"] = lambda: fused.chunk_scores(q, keys, spec)
    paths["fused kernel, document max inside"] = lambda: fused.doc_scores(q, keys, owner, docs, spec)
    paths[f"fused document scores + top-16: {WHOLE}"] = lambda: top_k(
        fused.doc_scores(q, keys, owner, docs, spec), 16)
    report(f"| {tokens:.0e} | {chunks:,} | {nbytes / 1e9:.2f} | {floor:.3f}", paths, nbytes, floor)
    err = float((fused.chunk_scores(q, keys, spec) - naive.chunk_scores(q, keys, spec)).abs().max())
    want = naive.top_k(doc_scores(naive.chunk_scores(q, keys, spec), owner, docs, spec), 16)[0]
    same = want.tolist() == top_k(fused.doc_scores(q, keys, owner, docs, spec), 16)[0].tolist()
    print(f"<!-- {tokens:.0e} tokens: max |fused - oracle| = {err:.2e}; top-16 equal to the oracle's: {same}; "
          f"tiles {fused._route_chunks.best_config} -->")
    k8 = quantize(keys)
    keys = paths = None  # free the bf16 keys (the closures above hold them)
    torch.cuda.empty_cache()
    floor8 = k8.nbytes / rate * 1e3
    report(f"| {tokens:.0e} | {chunks:,} | {k8.nbytes / 1e9:.2f} (fp8) | {floor8:.3f}", {
        "fp8 keys: fused kernel (chunk scores)": lambda: fused.chunk_scores(q, k8, spec),
        f"fp8 keys: {WHOLE}": lambda: top_k(fused.doc_scores(q, k8, owner, docs, spec), 16)}, k8.nbytes, floor8)
    got = top_k(fused.doc_scores(q, k8, owner, docs, spec), 16)[0]
    print(f"<!-- fp8: top-16 overlap with bf16 {len(set(got.tolist()) & set(want.tolist()))}/16 (random keys); "
          f"tiles {fused._route_chunks.best_config} -->")


def report(head: str, paths: dict, nbytes: int, floor: float) -> None:
    for name, fn in paths.items():
        try:
            # the whole op copies its top-k back to the host: no graph
            one, queued = timed_ms(fn), timed_ms(fn, queued=10)
            alone = None if name.endswith(WHOLE) else graph_ms(fn)
        except torch.OutOfMemoryError:
            print(f"{head} | {name} | out of memory | | | |", flush=True)
            torch.cuda.empty_cache()
            continue
        gpu = "-" if alone is None else f"{alone:.3f}"
        print(f"{head} | {name} | {one:.3f} | {queued:.3f} | {gpu} | {100 * floor / (alone or queued):.0f} |",
              flush=True)

if __name__ == "__main__":
    main()
