"""Routing one layer from a device-resident slab vs a slab streamed from pinned host memory.

    python bench/index_paging.py [--rows 1 4 16] [--stream-rows 65536 262144 1048576]

Random unit routing keys in the default model's geometry (3 KV heads, head_dim 64, bf16), documents of
16 chunks. Prints the median top-16 time of 20 queries and the key bytes scanned per second, next to
the pinned host-to-device copy rate measured in the same run (the floor of a streamed scan).
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import time

import torch

from msa.kernels.route import top_k
from msa.memstore.index.routing_index import Slab

HEADS, DIM, CHUNKS = 3, 64, 16


def timed(fn, repeats: int = 20) -> float:
    """Median seconds of fn() on the GPU."""
    fn()
    times = []
    for _ in range(repeats):
        torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def copy_rate(nbytes: int, device: torch.device) -> float:
    """Pinned host -> device bytes per second."""
    host = torch.empty(nbytes, dtype=torch.uint8, pin_memory=True)
    return nbytes / timed(lambda: host.to(device, non_blocking=True), repeats=5)


def slab(keys: torch.Tensor, device: torch.device, stream_rows: int) -> Slab:
    out = Slab(device, keys.dtype, compact_ratio=0.25, layers=[0], stream_rows=stream_rows)
    out.apply([(i, {0: keys[i * CHUNKS:(i + 1) * CHUNKS]}) for i in range(keys.shape[0] // CHUNKS)], [])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=float, nargs="+", default=[1, 4], help="millions of chunk rows")
    ap.add_argument("--stream-rows", type=int, nargs="+", default=[1 << 16, 1 << 18, 1 << 20])
    args = ap.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("streaming is between host and GPU memory: run this on a machine with a CUDA GPU")
    device = torch.device("cuda")
    h2d = copy_rate(1 << 30, device)
    print(f"{datetime.date.today()}; {torch.cuda.get_device_name()}; pinned host-to-device copy {h2d / 1e9:.1f} GB/s")
    print("| rows | keys | placement | top-16 (ms) | key GB/s | % of copy rate |")
    print("|---|---|---|---|---|---|")
    q = torch.nn.functional.normalize(torch.randn(8, 9, DIM, device=device), dim=-1)
    for millions in args.rows:
        rows = int(millions * 1e6) // CHUNKS * CHUNKS
        keys = torch.nn.functional.normalize(torch.randn(rows, HEADS, DIM), dim=-1).to(torch.bfloat16)
        nbytes = keys.numel() * keys.element_size()
        for stream_rows in [0, *args.stream_rows]:
            view = slab(keys, device, stream_rows).views[0]
            seconds = timed(lambda v=view: top_k(v.scores(q), 16)[0].tolist())
            where = f"streamed, {stream_rows} rows a block" if stream_rows else "resident"
            share = f"{100 * nbytes / seconds / h2d:.0f}" if stream_rows else ""
            print(f"| {rows:,} | {nbytes / 1e9:.2f} GB | {where} | {seconds * 1e3:.1f} | "
                  f"{nbytes / seconds / 1e9:.1f} | {share} |", flush=True)
            del view


if __name__ == "__main__":
    main()
