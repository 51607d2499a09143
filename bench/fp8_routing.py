"""fp8 routing keys against bf16 on keys the default model produces: top-16 overlap per router layer and of
the aggregated ranking, and recall against the gold memories, over held-out generated memories.

    python bench/fp8_routing.py [--memories 1000] [--questions 300] [--device cpu]

The default model encodes the memories once; its routing keys are then held as bf16 (the store's dtype on
a GPU) or quantised to fp8 (`msa.kernels.route.fp8`), and the same questions are routed against both.
fp8 scores are those of the dequantised keys (what the fused kernel computes, to ~2e-5 relative), so
this runs on any device.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime

import torch

from msa.kernels.route.fp8 import quantize
from msa.model.api import MSAModel
from msa.model.checkpoints.default import default_model
from msa.model.memory import EncodedDocument, Memory
from msa.model.train.synthetic import make_dataset

K = 16


def with_routing_keys(docs: list[EncodedDocument], convert) -> Memory:
    return Memory(dataclasses.replace(d, routing_keys={layer: convert(k) for layer, k in d.routing_keys.items()})
                  for d in docs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--memories", type=int, default=1000)
    ap.add_argument("--questions", type=int, default=300)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    model = MSAModel.from_pretrained(default_model(), device=args.device)
    ds, _ = make_dataset("heldout", args.memories, args.questions, seed=7)
    docs = model.encode_documents(ds.memories)
    bf16 = with_routing_keys(docs, lambda k: k.to(torch.bfloat16).float())
    fp8 = with_routing_keys(docs, lambda k: quantize(k).dequantize())
    per_layer: dict[int, list[int]] = {}
    ranked, hits = [], {"bf16": [0, 0, 0], "fp8": [0, 0, 0]}
    for ex in ds.examples:
        a = model.route(ex.question, bf16, top_k=K, read_mode="text", mode="clean")
        b = model.route(ex.question, fp8, top_k=K, read_mode="text", mode="clean")
        for layer, la in a.layers.items():
            per_layer.setdefault(layer, []).append(len(set(la.selected) & set(b.layers[layer].selected)))
        ra, rb = [n for n, _ in a.ranking()][:K], [n for n, _ in b.ranking()][:K]
        ranked.append(len(set(ra) & set(rb)))
        for name, r in (("bf16", ra), ("fp8", rb)):
            for i, k in enumerate((1, 4, 16)):
                hits[name][i] += bool(set(ex.gold) & set(r[:k]))
    n = len(ds.examples)
    print(f"{datetime.date.today()}; default model on {args.device}; {args.memories} held-out memories, {n} questions")
    print("| ranking | mean top-16 overlap | share >= 15/16 | min |")
    print("|---|---|---|---|")
    for layer, o in sorted(per_layer.items()):
        print(f"| layer {layer} | {sum(o) / n:.2f} | {sum(v >= 15 for v in o) / n:.3f} | {min(o)} |")
    print(f"| aggregated (mean over layers) | {sum(ranked) / n:.2f} | {sum(v >= 15 for v in ranked) / n:.3f} | "
          f"{min(ranked)} |")
    for name, h in hits.items():
        print(f"recall@1/4/16 with {name} keys: " + " / ".join(f"{v / n:.3f}" for v in h))


if __name__ == "__main__":
    main()
