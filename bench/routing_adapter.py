"""Can the backbone learn to route? A routing adapter (LoRA on the frozen backbone's linear layers, switched on
while memories are encoded and questions routed) trained jointly with the routers, measured on the same
training-side validation and out-of-distribution sets as bench/router_ingredients.py.

    python bench/routing_adapter.py CHECKPOINT OUT [--routers FILE] [--mix synthetic:4+everyday:4+descriptions:4]
                                    [--steps 600] [--rank 16] [--device cuda]

Routers alone are a linear map of one frozen hidden state per question token and per memory chunk; this
measures how much of the gap to sentence-embedding models comes from the frozen representations. Each step
scores a batch of questions against their gold memories, look-alikes that share their words and random
memories of the same store (decoupled InfoNCE, as router training). The adapter and routers go to OUT.
"""

from __future__ import annotations

import argparse
import datetime
import json
import random
import time
from pathlib import Path

import torch
from router_ingredients import ood_dataset, parse_variant, training_sets
from safetensors.torch import save_file

from msa.model.api import MSAModel
from msa.model.encode import encode_template
from msa.model.prompts import document_text
from msa.model.reader_adapter import ReaderAdapter
from msa.model.reader_training import look_alikes
from msa.model.router_features import document_hidden, question_hidden
from msa.model.router_run import DataConfig, feature_store, init_routers, load_routers, validation_datasets
from msa.model.router_training import decoupled_infonce, evaluate, layer_scores
from msa.model.synthetic import Dataset

OOD_SETS = ("gen-dev-1000", "handwritten", "gen-1000", "gen-10000")


class Batches:
    """Question batches of one store with their candidate memories: golds, look-alikes, random others."""

    def __init__(self, model: MSAModel, ds: Dataset, seed: int) -> None:
        self.ds, self.rng = ds, random.Random(seed)
        self.rendered = [model.tokenizer.encode(document_text(i, t)) for i, t in enumerate(ds.memories)]
        self.similar = look_alikes(ds.memories)

    def sample(self, questions: int, memories: int) -> tuple[list[str], list[int], list[tuple[int, ...]]]:
        rows = self.rng.sample(range(len(self.ds.examples)), questions)
        chosen: dict[int, None] = {}
        for r in rows:
            e = self.ds.examples[r]
            chosen |= dict.fromkeys(e.gold)
            chosen |= dict.fromkeys(self.similar(e.question, e.gold[0])[:2])
        while len(chosen) < memories:
            chosen[self.rng.randrange(len(self.ds.memories))] = None
        docs = list(chosen)
        return [self.ds.examples[r].question for r in rows], docs, [self.ds.examples[r].gold for r in rows]


def adapted_template(model: MSAModel, adapter: ReaderAdapter) -> None:
    """The template prefix's K/V as the adapted backbone computes them (questions attend to it)."""
    with torch.no_grad(), adapter.active():
        model.template_ids, model.template = encode_template(model.transformer, model.tokenizer)


def measure(model: MSAModel, adapter: ReaderAdapter, routers, layers: list[int], evals: dict[str, Dataset],
            device: str) -> dict[str, dict[int, float]]:
    adapted_template(model, adapter)
    out = {}
    with adapter.active(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.startswith("cuda")):
        for name, ds in evals.items():
            out[name] = evaluate(routers, feature_store(model, ds, layers, device, name), layers=layers)["mean"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--routers", type=Path, help="start from these routers (else from q_proj / k_proj)")
    ap.add_argument("--mix", default="synthetic:4+everyday:4+descriptions:4")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--questions", type=int, default=64, help="questions per step")
    ap.add_argument("--memories", type=int, default=320, help="candidate memories per step")
    ap.add_argument("--rank", type=int, default=16)
    ap.add_argument("--lr", type=float, default=2e-4, help="adapter; routers get 5x")
    ap.add_argument("--eval-every", type=int, default=200)
    ap.add_argument("--val-memories", type=int, default=1000, help="per training-side validation store")
    ap.add_argument("--ood", nargs="+", default=list(OOD_SETS))
    ap.add_argument("--device", default="cuda")
    args = ap.parse_args()
    torch.manual_seed(0)
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    model = MSAModel.from_pretrained(args.checkpoint, device=args.device, reader=False)
    for p in model.transformer.parameters():
        p.requires_grad_(False)
    layers = list(model.config.msa.router_layers)
    routers = init_routers(model, layers, args.device)
    if args.routers:
        load_routers(routers, args.routers)
    adapter = ReaderAdapter(model.transformer, args.rank, 2.0 * args.rank)
    counts, _ = parse_variant(args.mix, layers)
    data = DataConfig(memories=2000, questions=2000, val_memories=args.val_memories,
                      val_questions=args.val_memories // 2, everyday_stores=1, description_stores=1)
    stores = [Batches(model, ds, seed=i) for i, ds in
              enumerate(ds for dss in training_sets(counts, data).values() for ds in dss)]
    evals = {f"val:{src}": ds for src, ds in validation_datasets(data, set()).items()}
    evals |= {name: ood_dataset(name) for name in args.ood}
    opt = torch.optim.AdamW([{"params": list(adapter.parameters()), "lr": args.lr},
                             {"params": list(routers.parameters()), "lr": 5 * args.lr}], weight_decay=0.0)
    log = []
    before = measure(model, adapter, routers, layers, evals, args.device)  # the adapter starts as a no-op
    print(f"data and start {time.time() - t0:.0f} s", json.dumps({"step": 0, "recall": before}), flush=True)
    log.append({"step": 0, "recall": before})
    for step in range(args.steps):
        questions, docs, gold = stores[step % len(stores)].sample(args.questions, args.memories)
        adapted_template(model, adapter)
        position = {d: j for j, d in enumerate(docs)}
        mask = torch.zeros(len(questions), len(docs), dtype=torch.bool, device=args.device)
        for r, g in enumerate(gold):
            mask[r, [position[d] for d in g]] = True
        batch = stores[step % len(stores)]
        with adapter.active(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=args.device.startswith("cuda")):
            doc_h = document_hidden(model, [batch.rendered[d] for d in docs], layers)
            q_h = question_hidden(model, questions, layers)
        loss = sum(decoupled_infonce(layer_scores(routers, i, q_h, doc_h), mask, 0.1) for i in layers) / len(layers)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(adapter.parameters()) + list(routers.parameters()), 1.0)
        opt.step()
        if (step + 1) % args.eval_every == 0 or step + 1 == args.steps:
            recall = measure(model, adapter, routers, layers, evals, args.device)
            log.append({"step": step + 1, "loss": float(loss.detach()), "recall": recall, "time": time.time() - t0})
            print(json.dumps(log[-1]), flush=True)
            (args.out / "log.json").write_text(json.dumps({"date": str(datetime.date.today()), "args": vars(args)
                                                           | {"checkpoint": str(args.checkpoint), "out": str(args.out),
                                                              "routers": str(args.routers)}, "log": log}, indent=1))
    adapter.save(args.out / "routing_adapter.safetensors", {"steps": str(args.steps)})
    save_file({k: v.half().contiguous() for k, v in routers.state().items()},
              str(args.out / "routers.safetensors"), metadata={"router_layer_idx": ",".join(map(str, layers))})
    columns = list(evals)
    print("| step | " + " | ".join(columns) + " |")
    print("|---|" + "---|" * len(columns))
    for r in log:
        print(f"| {r['step']} | " + " | ".join("/".join(f"{r['recall'][c][k]:.2f}" for k in (1, 4, 16))
                                             for c in columns) + " |")


if __name__ == "__main__":
    main()
