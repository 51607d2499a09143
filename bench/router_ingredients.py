"""Which training data makes routers generalize: one router set per data mix, each measured on the training
side's validation stores and on the out-of-distribution sets (eval/sets), beside the shipped routers.

    python bench/router_ingredients.py CHECKPOINT OUT [--variants NAME ...] [--steps 1500] [--device cuda]

A variant names its training stores as `source:count` joined by `+` (sources: synthetic, everyday,
descriptions) and optionally `@a-b` router layers, e.g. `synthetic:4+everyday:4@15-29`. Features are
computed once for every store any variant uses. The variant to ship is chosen (OUT/chosen.txt) by mean recall@1
over CHOICE_SETS: training-side validation and `gen-dev-1000` (eval/sets/__init__.py); the other OOD columns are
reported, never used to choose. Routers of each variant go to OUT/<variant>.safetensors in fp16.
"""

from __future__ import annotations

import argparse
import datetime
import json
import time
from dataclasses import replace
from pathlib import Path

import torch
from safetensors.torch import save_file
from tqdm import tqdm

from msa.eval import sets
from msa.model.api import MSAModel
from msa.model.checkpoints.default import ROUTERS
from msa.model.train.router import Routers, Store, TrainConfig, evaluate, train_steps
from msa.model.train.router_run import (
    DataConfig,
    feature_store,
    init_routers,
    load_routers,
    training_datasets,
    validation_datasets,
)
from msa.model.train.synthetic import Dataset, Example

OOD_SETS = ("gen-dev-1000", "handwritten", "gen-1000", "gen-10000")
# The variant to ship is chosen on these only: training-side validation and the generator's dev seed.
CHOICE_SETS = ("val:synthetic", "val:everyday", "val:descriptions", "gen-dev-1000")
DEFAULT_VARIANTS = ("synthetic:4", "everyday:4", "synthetic:4+everyday:4", "everyday:4+descriptions:4",
                    "synthetic:4+everyday:4+descriptions:4")


def parse_variant(name: str, default_layers: list[int]) -> tuple[dict[str, int], list[int]]:
    mix, _, layer_range = name.partition("@")
    counts = {src: int(n) for src, n in (part.split(":") for part in mix.split("+"))}
    if layer_range:
        a, b = (int(x) for x in layer_range.split("-"))
        return counts, list(range(a, b + 1))
    return counts, default_layers


def training_sets(counts: dict[str, int], data: DataConfig) -> dict[str, list[Dataset]]:
    """The training datasets of `router_run` for `counts` stores per source, grouped by source."""
    data = replace(data, stores=counts.get("synthetic", 0), everyday_stores=counts.get("everyday", 0),
                   description_stores=counts.get("descriptions", 0))
    out: dict[str, list[Dataset]] = {}
    for src, ds in training_datasets(data)[0]:
        out.setdefault(src, []).append(ds)
    return out


def ood_dataset(name: str) -> Dataset:
    es = sets.load(name)
    number = {mid: i for i, (mid, _) in enumerate(es.memories)}
    return Dataset([t for _, t in es.memories],
                   [Example(q.question, q.answers[0], tuple(number[g] for g in q.gold)) for q in es.questions])


def file_name(variant: str) -> str:
    return variant.replace(":", "").replace("+", "_").replace("@", "_L") + ".safetensors"


def device_name(device: str) -> str:
    return torch.cuda.get_device_name() if device.startswith("cuda") else "CPU"


def measure(routers: Routers, layers: list[int], evals: dict[str, Store]) -> dict[str, dict[int, float]]:
    return {name: evaluate(routers, store, layers=layers)["mean"] for name, store in evals.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--variants", nargs="+", default=list(DEFAULT_VARIANTS))
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--memories", type=int, default=2000)
    ap.add_argument("--questions", type=int, default=2000)
    ap.add_argument("--val-memories", type=int, default=1000, help="per training-side validation store")
    ap.add_argument("--ood", nargs="+", default=list(OOD_SETS))
    ap.add_argument("--device", default="cuda")
    args = ap.parse_args()
    torch.set_float32_matmul_precision("high")
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    model = MSAModel.from_pretrained(args.checkpoint, device=args.device)
    shipped_layers = list(model.config.msa.router_layers)
    variants = {v: parse_variant(v, shipped_layers) for v in args.variants}
    layers = sorted({i for _, ls in variants.values() for i in ls} | set(shipped_layers))
    most: dict[str, int] = {}
    for counts, _ in variants.values():
        for src, n in counts.items():
            most[src] = max(most.get(src, 0), n)
    data = DataConfig(memories=args.memories, questions=args.questions, val_memories=args.val_memories,
                      val_questions=args.val_memories // 2,
                      everyday_stores=1, description_stores=1)

    def features(ds: Dataset, label: str) -> Store:
        return feature_store(model, ds, layers, args.device, label)

    train = {src: [features(ds, f"{src} {i}") for i, ds in enumerate(tqdm(dss, desc=f"features: {src}"))]
             for src, dss in training_sets(most, data).items()}
    evals = {f"val:{src}": features(ds, src) for src, ds in validation_datasets(data, set()).items()}
    evals |= {name: features(ood_dataset(name), name) for name in tqdm(args.ood, desc="features: OOD sets")}
    print(f"features {time.time() - t0:.0f} s; layers {layers}", flush=True)

    shipped = init_routers(model, shipped_layers, args.device)
    load_routers(shipped, ROUTERS)
    results = {"shipped": measure(shipped, shipped_layers, evals)}
    for name, (counts, vlayers) in variants.items():
        t1 = time.time()
        stores = [s for src, n in counts.items() for s in train[src][:n]]
        routers = init_routers(model, vlayers, args.device)
        losses = [loss for _, loss, _ in train_steps(routers, stores, TrainConfig(args.steps, args.batch, args.lr))]
        last = sum(losses[-100:]) / len(losses[-100:])
        results[name] = measure(routers, vlayers, evals)
        save_file({k: v.half().contiguous() for k, v in routers.state().items()}, str(args.out / file_name(name)),
                  metadata={"router_layer_idx": ",".join(map(str, vlayers)), "variant": name,
                            "steps": str(args.steps)})
        print(f"{name}: loss (last 100 steps) {last:.3f}, {time.time() - t1:.0f} s", json.dumps(results[name]),
              flush=True)
        # Written after every variant, so a run cut short keeps what it measured.
        chosen = max((v for v in variants if v in results),
                     key=lambda v: sum(results[v][c][1] for c in CHOICE_SETS if c in results[v]))
        (args.out / "chosen.txt").write_text(file_name(chosen) + "\n")
        (args.out / "ingredients.json").write_text(json.dumps(
            {"date": str(datetime.date.today()), "device": device_name(args.device), "chosen": chosen,
             "args": vars(args) | {"checkpoint": str(args.checkpoint), "out": str(args.out)}, "results": results},
            indent=1))
    columns = list(evals)
    print(f"chosen by mean recall@1 over {CHOICE_SETS}: {chosen}")
    print(f"\n{datetime.date.today()}, {device_name(args.device)}, {args.steps} steps; recall@1 / @4 / @16")
    print("| routers | " + " | ".join(columns) + " |")
    print("|---|" + "---|" * len(columns))
    for name, r in results.items():
        print(f"| {name} | " + " | ".join("/".join(f"{r[c][k]:.2f}" for k in (1, 4, 16)) for c in columns) + " |")


if __name__ == "__main__":
    main()
