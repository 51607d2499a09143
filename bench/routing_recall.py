"""Routing recall@k of a checkpoint on generated memories: does the model find the gold memory?

    python bench/routing_recall.py [--checkpoint PATH] [--memories 50 100 1000] [--aggregate mean]

Each generated fact is one memory; each question has exactly one gold memory. Recall@k = share of
questions whose gold memory is in the top k of the ranking aggregated over router layers (what `text`
reading uses); the per-layer column averages each router layer's own recall@k. Random = k / memories.
"""

from __future__ import annotations

import argparse
import datetime
import time

import torch

from msa.model.api import MSAModel
from msa.model.default import default_model
from msa.model.memory import Memory
from msa.model.synthetic import make_facts

KS = (1, 4, 16)


def recall(model: MSAModel, n: int, aggregate: str, mode: str, seed: int) -> dict[str, list[float]]:
    facts = make_facts(n, seed=seed)
    memory = Memory(model.encode_documents([f.document for f in facts]))
    hits = {k: 0 for k in KS}
    layer_hits = {k: 0.0 for k in KS}
    for gold, fact in enumerate(facts):
        routing = model.route(fact.question, memory, top_k=max(KS), mode=mode, read_mode="text")
        ranked = [num for num, _ in routing.ranking(aggregate)]
        for k in KS:
            hits[k] += gold in ranked[:k]
            per_layer = [gold in torch.sort(lr.scores, descending=True, stable=True).indices[:k].tolist()
                         for lr in routing.layers.values()]
            layer_hits[k] += sum(per_layer) / len(per_layer)
    return {"aggregated": [hits[k] / n for k in KS], "per layer": [layer_hits[k] / n for k in KS],
            "random": [min(k / n, 1.0) for k in KS]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", help="checkpoint directory (default: the embedded default model)")
    ap.add_argument("--memories", type=int, nargs="+", default=[50])
    ap.add_argument("--aggregate", default="mean", choices=["mean", "max", "rrf"])
    ap.add_argument("--mode", default="clean", choices=["clean", "compat"])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    path = args.checkpoint or default_model()
    model = MSAModel.from_pretrained(path)
    print(f"checkpoint {path}; router layers {list(model.config.msa.router_layers)}; "
          f"aggregate {args.aggregate}; mode {args.mode}; {datetime.date.today()}")
    print("| memories | ranking | recall@1 | recall@4 | recall@16 |")
    print("|---|---|---|---|---|")
    for n in args.memories:
        start = time.perf_counter()
        rows = recall(model, n, args.aggregate, args.mode, args.seed)
        for name, values in rows.items():
            print(f"| {n} | {name} | " + " | ".join(f"{v:.2f}" for v in values) + " |")
        print(f"<!-- {n} memories: {time.perf_counter() - start:.1f} s -->")


if __name__ == "__main__":
    main()
