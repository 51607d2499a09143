"""What a filter costs a question: routing a namespace with and without a filter, side by side in one run.

    python bench/filter_latency.py [--documents 100000] [--device cuda] [--json OUT]

The routing index and the attribute table are the engine's own (`RoutingIndex`, `AttributeIndex`), fed
from memory instead of LMDB (a stand-in with the two reads they make), so the numbers are exactly what a
filter changes per question: evaluating it over the attribute table, counting and routing only its
documents, against counting and routing every document. The question's own prefill is the same either
way and is left out.
Geometry of the embedded default: 8 router layers, routing keys [chunks, 3, 64] in the model's dtype,
queries [16 tokens, 9 heads, 64]; documents of 1-6 chunks; metadata `bucket` spreads them so that a filter
on it passes a chosen share; `created_at` rises with the ordinal.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import time

import torch

from msa.kernels.route import RouteSpec
from msa.memstore.index.attributes import AttributeIndex
from msa.memstore.index.routing_index import RoutingIndex
from msa.memstore.storage.filters import DocumentFilter, TimeRange
from msa.memstore.storage.records import Document

LAYERS = (11, 18, 19, 23, 24, 25, 26, 29)
BUCKETS = 1000  # `bucket` takes 1,000 values: a filter on k of them passes k / 1,000 of the documents
SHARES = (0.001, 0.01, 0.1, 0.5, 0.9, 1.0)


class InMemoryRows:
    """The reads `RoutingIndex` and `AttributeIndex` make of a store, answered from memory."""

    def __init__(self, n: int, dtype: torch.dtype, device: str, seed: int = 0) -> None:
        g = torch.Generator(device).manual_seed(seed)
        chunks = torch.randint(1, 7, (n,), generator=torch.Generator().manual_seed(seed)).tolist()
        self.rows = {layer: list(enumerate(torch.randn(sum(chunks), 3, 64, generator=g, device=device, dtype=dtype)
                                           .split(chunks))) for layer in LAYERS}
        self.docs = [Document("ns", f"d{i}", i, 1, "", {"bucket": str(i % BUCKETS), "user": f"u{i % 7}"}, 0, c,
                              1e9 + i, 1e9 + i) for i, c in enumerate(chunks)]

    def namespace_routing_keys(self, ns: str) -> dict[int, list[tuple[int, torch.Tensor]]]:
        return self.rows

    def documents(self, ns: str) -> list[Document]:
        return self.docs


def timed(fn, device: str, reps: int) -> float:
    """Median milliseconds of fn() over reps runs (after two warm-ups)."""
    out = []
    for i in range(reps + 2):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        if i >= 2:
            out.append(1e3 * (time.perf_counter() - start))
    return statistics.median(out)


def profile(path: str, filters: dict[str, DocumentFilter | None], route, device: str) -> None:
    """Where each routing's time goes: the profiler's op table of three warm calls, per filter."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as profiler

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "cuda" else [])
    with open(path, "w") as out:
        for name, flt in filters.items():
            route(flt)
            with profiler(activities=activities) as prof:
                for _ in range(3):
                    route(flt)
                if device == "cuda":
                    torch.cuda.synchronize()
            for key in ["cpu_time_total"] + (["self_device_time_total"] if device == "cuda" else []):
                out.write(f"## {name}, by {key}\n{prof.key_averages().table(sort_by=key, row_limit=25)}\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--documents", type=int, default=100_000)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--json", help="append the result rows here")
    ap.add_argument("--profile", help="write a torch.profiler table of one call of each routing here")
    args = ap.parse_args()
    dtype = torch.bfloat16 if args.device == "cuda" else torch.float32
    rows = InMemoryRows(args.documents, dtype, args.device)
    index = RoutingIndex(rows, device=args.device, dtype=dtype, budget_bytes=1 << 40)
    attributes = AttributeIndex(rows, device=args.device)
    snapshot = index.snapshot("ns")
    q = {layer: torch.randn(16, 9, 64, device=args.device, dtype=dtype) for layer in LAYERS}
    spec = RouteSpec()

    def route(flt: DocumentFilter | None) -> None:  # as a question does: its documents counted, then routed
        allowed = None if flt is None else attributes.matching("ns", flt)
        snapshot.count(allowed)
        snapshot.select_many([q], spec, 4, allowed)

    base = timed(lambda: route(None), args.device, args.reps)
    filters = {f"bucket: {share:.1%} of documents": DocumentFilter.of({"bucket": [str(b) for b in
                                                                                  range(round(share * BUCKETS))]})
               for share in SHARES}
    filters["created in the last 10%"] = DocumentFilter.of(created=TimeRange(1e9 + 0.9 * args.documents))
    filters["user (1/7) and created in the last half"] = DocumentFilter.of(
        {"user": "u3"}, TimeRange(1e9 + 0.5 * args.documents))
    device = torch.cuda.get_device_name() if args.device == "cuda" else f"{platform.machine()} CPU"
    chunks = sum(t.shape[0] for _, t in rows.rows[LAYERS[0]])
    print(f"{args.documents:,} documents, {chunks:,} chunks a layer, {len(LAYERS)} layers; {device}, {dtype}, "
          f"{datetime.date.today()}")
    print("| filter | routing ms (p50) | unfiltered ms (p50) | filtered / unfiltered |\n|---|---|---|---|")
    results = []
    for name, flt in filters.items():
        matching = timed(lambda f=flt: attributes.matching("ns", f), args.device, args.reps)
        took = timed(lambda f=flt: route(f), args.device, args.reps)
        again = timed(lambda: route(None), args.device, args.reps)  # side by side: the unfiltered run beside it
        print(f"| {name} (filter alone {matching:.2f}) | {took:.2f} | {again:.2f} | {took / again:.2f} |")
        results.append({"filter": name, "filtered_ms": took, "unfiltered_ms": again, "filter_eval_ms": matching})
    if args.profile:
        profile(args.profile, {"unfiltered": None, **filters}, route, args.device)
    if args.json:
        with open(args.json, "a") as f:
            f.write(json.dumps({"documents": args.documents, "device": device, "dtype": str(dtype),
                                "date": str(datetime.date.today()), "unfiltered_first_ms": base,
                                "rows": results}) + "\n")


if __name__ == "__main__":
    main()
