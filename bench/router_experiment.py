"""Router training experiment: train routers on every layer, then measure which layers route best.

    python bench/router_experiment.py CHECKPOINT OUT [--steps 2000] [--device cuda] [--top 1 3 5 8]

Trains all layers at once (each layer's routers are independent), ranks layers by held-out recall@1,
evaluates the mean-aggregated ranking of the best N layers on held-out stores of --sizes memories, and
writes the best layers' routers in bf16 (OUT/routers_best.safetensors) with a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from msa.model.api import MSAModel
from msa.model.train.router import Routers, Store, TrainConfig, evaluate
from msa.model.train.router_features import document_features, query_features
from msa.model.train.router_run import DataConfig, build_stores, run
from msa.model.train.synthetic import make_dataset


def heldout_store(model: MSAModel, layers: list[int], memories: int, questions: int, device: str) -> Store:
    ds, _ = make_dataset("heldout", memories, questions, seed=7)
    docs = document_features(model, ds.memories, layers)
    queries = query_features(model, [e.question for e in ds.examples], layers)
    return Store(docs.to(device), queries.to(device), [e.gold for e in ds.examples])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--stores", type=int, default=8)
    ap.add_argument("--memories", type=int, default=2000)
    ap.add_argument("--questions", type=int, default=2000)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--top", type=int, nargs="+", default=[1, 3, 5, 8])
    ap.add_argument("--device", default="cuda")
    args = ap.parse_args()
    torch.set_float32_matmul_precision("high")
    model = MSAModel.from_pretrained(args.checkpoint, device=args.device)
    layers = list(range(model.config.num_hidden_layers))
    t0 = time.time()
    data = DataConfig(args.stores, args.memories, args.questions, 20, 1000, 500)
    stores, val = build_stores(model, layers, data, args.device)
    print(f"features {time.time() - t0:.0f} s", flush=True)
    routers: Routers = run(model, args.out, layers, stores, val, TrainConfig(args.steps, args.batch, args.lr),
                           args.device, eval_every=max(1, args.steps // 4),
                           on_eval=lambda r: print(r["step"], r["loss"], r["recall_sets"], flush=True))
    print(f"trained {time.time() - t0:.0f} s", flush=True)
    per_layer = evaluate(routers, val["synthetic"])
    ranked = sorted(layers, key=lambda i: (-per_layer[str(i)][1], -per_layer[str(i)][16]))
    summary = {"per_layer": per_layer, "ranked": ranked, "subsets": {}}
    for size in args.sizes:
        store = heldout_store(model, layers, size, 500, args.device)
        for n in args.top:
            summary["subsets"][f"{size}:top{n}"] = evaluate(routers, store, layers=ranked[:n])["mean"]
            print(size, n, ranked[:n], summary["subsets"][f"{size}:top{n}"], flush=True)
        del store
    best = sorted(ranked[: max(args.top)])
    state = {k: v.to(torch.bfloat16).contiguous() for k, v in routers.state().items()
             if int(k.split(".")[2]) in best}
    from safetensors.torch import save_file

    save_file(state, str(args.out / "routers_best.safetensors"),
              metadata={"router_layer_idx": ",".join(map(str, best))})
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(f"done {time.time() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
