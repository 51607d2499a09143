"""Blob codecs on real encodings: compression ratio, encode MB/s and decode GB/s (one CPU thread).

    python bench/codecs.py [--checkpoint PATH] [--memories 200] [--dtype bfloat16 float32] [--join 1 16]

The tensors are what the store keeps: chunk-pooled K, V and routing K of every router layer of generated
held-out profiles, encoded by the checkpoint (default: the embedded default model). `--join N` stores N
documents' chunks as one blob, standing in for documents N times as long. Throughput counts uncompressed
bytes.
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import platform
import time

import torch

from msa.memstore.storage import blob
from msa.model.api import MSAModel
from msa.model.checkpoints.default import default_model
from msa.model.train.synthetic import make_dataset

SETTINGS = [("raw", blob.Codec.RAW, 0), ("zstd-1", blob.Codec.ZSTD, 1), ("zstd-3", blob.Codec.ZSTD, 3),
            ("shuffle-zstd-1", blob.Codec.SHUFFLE_ZSTD, 1), ("shuffle-zstd-3", blob.Codec.SHUFFLE_ZSTD, 3),
            ("shuffle-zstd-9", blob.Codec.SHUFFLE_ZSTD, 9)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint")
    ap.add_argument("--memories", type=int, default=200)
    ap.add_argument("--dtype", nargs="+", default=["bfloat16", "float32"])
    ap.add_argument("--join", type=int, nargs="+", default=[1, 16])
    args = ap.parse_args()
    torch.set_num_threads(1)
    model = MSAModel.from_pretrained(args.checkpoint or default_model())
    ds, _ = make_dataset("heldout", args.memories, 1, seed=3)
    docs = model.encode_documents(ds.memories)
    layers = list(docs[0].keys)
    per_doc = {kind: [[getattr(d, attr)[layer] for d in docs] for layer in layers]
               for kind, attr in (("K", "keys"), ("V", "values"), ("routing K", "routing_keys"))}
    print(f"{datetime.date.today()}; {platform.machine()}, 1 thread; {len(docs)} held-out memories, "
          f"{sum(len(d.token_ids) for d in docs)} tokens, {len(docs[0].keys)} router layers")
    print("| dtype | tensor | documents per blob | mean blob KB | codec | ratio | encode MB/s | decode GB/s |")
    print("|---|---|---|---|---|---|---|---|")
    for dtype, join, (kind, by_layer) in itertools.product(args.dtype, args.join, per_doc.items()):
        ts = [torch.cat(ts[i:i + join]).to(getattr(torch, dtype)) for ts in by_layer for i in range(0, len(ts), join)]
        raw = sum(t.numel() * t.element_size() for t in ts)
        for name, codec, level in SETTINGS:
            start = time.perf_counter()
            blobs = [blob.encode(t, codec, level) for t in ts]
            enc = time.perf_counter() - start
            start = time.perf_counter()
            for b in blobs:
                blob.decode(b)
            dec = time.perf_counter() - start
            stored = sum(len(b) for b in blobs)
            print(f"| {dtype} | {kind} | {join} | {raw / len(ts) / 1e3:.1f} | {name} | {raw / stored:.3f} | "
                  f"{raw / enc / 1e6:.0f} | {raw / dec / 1e9:.2f} |", flush=True)

if __name__ == "__main__":
    main()
