"""The store alone on CPU (no model): batched writes, index load, routing top-k and K/V fetch.

    python bench/store_throughput.py [--documents 20000] [--batch 64] [--codec zstd] [--dtype bfloat16]

Documents carry random pooled tensors in the default model's geometry (8 router layers, 3 KV heads,
head_dim 64; 1-16 chunks of 64 tokens), so the numbers measure LMDB, the codecs and the index only.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import random
import statistics
import tempfile
import time

import torch

from msa.kernels.route import top_k
from msa.memstore.index.content_cache import ContentCache
from msa.memstore.index.routing_index import RoutingIndex
from msa.memstore.storage import blob
from msa.memstore.storage.records import Encoding, ModelBinding, NewDocument
from msa.memstore.storage.store import Store

LAYERS, HEADS, DIM = (11, 18, 19, 23, 24, 25, 26, 29), 3, 64


def document(i: int, rng: random.Random, dtype: torch.dtype) -> NewDocument:
    chunks = rng.randint(1, 16)
    g = torch.Generator().manual_seed(i)

    def part() -> dict[int, torch.Tensor]:
        return {layer: torch.randn(chunks, HEADS, DIM, generator=g).to(dtype) for layer in LAYERS}

    return NewDocument(f"doc-{i}", f"memory number {i}", {"kind": str(i % 7)},
                       Encoding(list(range(chunks * 64)), part(), part(), part()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--documents", type=int, default=20000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--codec", default="zstd", choices=["raw", "zstd", "shuffle-zstd"])
    ap.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float32"])
    args = ap.parse_args()
    torch.set_num_threads(2)
    dtype, rng = getattr(torch, args.dtype), random.Random(0)
    docs = [document(i, rng, dtype) for i in range(args.documents)]
    binding = ModelBinding("0" * 64, LAYERS, {}, "bench")
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(tmp, binding, create=True, codec=blob.Codec.parse(args.codec))
        store.create_namespace("n")
        start = time.perf_counter()
        for i in range(0, len(docs), args.batch):
            store.write("n", docs[i:i + args.batch])
        write_s = time.perf_counter() - start
        stats = store.stats()["namespaces"]["n"]
        raw = sum(r for r, _ in stats["bytes"].values())
        stored = sum(s for _, s in stats["bytes"].values())
        start = time.perf_counter()
        index = RoutingIndex(store, dtype=torch.float32)
        view = index.snapshot("n")[LAYERS[-1]]
        load_s = time.perf_counter() - start
        q = torch.randn(8, 9, DIM)
        times = []
        for _ in range(20):
            t0 = time.perf_counter()
            top_k(view.scores(q), 16)[0].tolist()  # the best 16 live documents' slots, on the host
            times.append(time.perf_counter() - t0)
        cache = ContentCache(store)
        picks = [rng.sample(range(args.documents), 16) for _ in range(20)]
        cold, warm = [], []
        for p in picks:
            t0 = time.perf_counter()
            cache.get("n", p, LAYERS[-1])
            cold.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            cache.get("n", p, LAYERS[-1])
            warm.append(time.perf_counter() - t0)
        chunks = stats["chunks"]
        store.close()
    ms = 1e3
    print(f"{datetime.date.today()}; {platform.machine()}, 2 threads; {args.documents} documents, {chunks} chunks, "
          f"{args.dtype}, codec {args.codec}, batches of {args.batch}")
    print("| measure | value |")
    print("|---|---|")
    print(f"| write | {args.documents / write_s:.0f} documents/s, {raw / write_s / 1e6:.1f} MB/s of tensors |")
    print(f"| stored / raw bytes | {stored / 1e6:.1f} / {raw / 1e6:.1f} MB (ratio {raw / stored:.3f}) |")
    print(f"| index load, one layer | {load_s * ms:.0f} ms |")
    print(f"| routing top-16, one layer (median of 20) | {statistics.median(times) * ms:.1f} ms |")
    print(f"| K/V fetch, 16 documents, one layer: cold / cached (median) | "
          f"{statistics.median(cold) * ms:.2f} / {statistics.median(warm) * ms:.3f} ms |")


if __name__ == "__main__":
    main()
