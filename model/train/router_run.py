"""A router training run: generated data -> cached features -> training -> routers file, resumable.

The run directory holds `routers.safetensors` (router weights under checkpoint names, the trained layers
in its metadata), `state.pt` (step and optimizer state, written at every evaluation) and `log.jsonl`
(loss and held-out recall per layer).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from msa.model.api import MSAModel
from msa.model.train.everyday import make_everyday_dataset
from msa.model.train.general_text import description_dataset, read_descriptions, split_descriptions
from msa.model.train.router import Routers, Store, TrainConfig, evaluate, train_steps
from msa.model.train.router_features import document_features, query_features
from msa.model.train.synthetic import Dataset, make_dataset


@dataclass(frozen=True)
class DataConfig:
    stores: int = 4  # training stores of generated people (msa.model.train.synthetic)
    memories: int = 1000  # memories per training store
    questions: int = 2000  # questions per training store
    max_facts: int = 20  # sentences per generated-people memory: 1 .. max_facts
    val_memories: int = 500
    val_questions: int = 500
    seed: int = 0
    everyday_stores: int = 0  # training stores of everyday agent memories (msa.model.train.everyday)
    description_stores: int = 0  # training stores of Debian package descriptions (msa.model.train.general_text)


def training_datasets(data: DataConfig) -> tuple[list[tuple[str, Dataset]], set[str]]:
    """(source, dataset) for every training store, and the generated people's names (kept out of validation)."""
    names: set[str] = set()
    out = []
    for s in range(data.stores):
        ds, used = make_dataset("train", data.memories, data.questions, seed=data.seed * 1000 + s,
                                max_facts=data.max_facts, avoid_names=names)
        names |= used
        out.append(("synthetic", ds))
    out += [("everyday", make_everyday_dataset(data.memories, data.questions, seed=data.seed * 1000 + s))
            for s in range(data.everyday_stores)]
    if data.description_stores:
        train, _ = split_descriptions(read_descriptions())
        out += [("descriptions", description_dataset(train, data.memories, seed=data.seed * 1000 + s))
                for s in range(data.description_stores)]
    return out, names


def validation_datasets(data: DataConfig, avoid_names: set[str]) -> dict[str, Dataset]:
    """One held-out store per training source: unseen relations and names for generated people, other seeds
    (everyday) and other packages (descriptions). Training-side validation, not out-of-distribution tests."""
    val, _ = make_dataset("heldout", data.val_memories, data.val_questions, seed=data.seed,
                          max_facts=data.max_facts, avoid_names=avoid_names)
    out = {"synthetic": val}
    if data.everyday_stores:
        out["everyday"] = make_everyday_dataset(data.val_memories, data.val_questions, seed=data.seed + 999_983)
    if data.description_stores:
        _, held = split_descriptions(read_descriptions())
        out["descriptions"] = description_dataset(held, data.val_memories, seed=data.seed)
    return out


def feature_store(model: MSAModel, ds: Dataset, layers: list[int], device: str, label: str,
                  progress: Callable[[str, int, int], None] | None = None) -> Store:
    """Cached router inputs of one dataset's memories and questions."""
    docs = document_features(model, ds.memories, layers,
                             progress=progress and (lambda n: progress(label, n, len(ds.memories))))
    queries = query_features(model, [e.question for e in ds.examples], layers,
                             progress=progress and (lambda n: progress(label, n, len(ds.examples))))
    return Store(docs.to(device), queries.to(device), [e.gold for e in ds.examples])


def build_stores(model: MSAModel, layers: list[int], data: DataConfig, device: str,
                 progress: Callable[[str, int, int], None] | None = None) -> tuple[list[Store], dict[str, Store]]:
    """Training stores and one validation store per training source."""
    train, names = training_datasets(data)
    stores = [feature_store(model, ds, layers, device, f"train store {i} ({src})", progress)
              for i, (src, ds) in enumerate(train)]
    val = {src: feature_store(model, ds, layers, device, f"validation store ({src})", progress)
           for src, ds in validation_datasets(data, names).items()}
    return stores, val


def init_routers(model: MSAModel, layers: list[int], device: str, source: str = "attention") -> Routers:
    """Routers initialised from each layer's attention projections (`source` "attention": attention-derived
    routing) or from the checkpoint's own router projections ("checkpoint": trained or attention-derived)."""
    cfg = model.config
    routers = Routers(layers, cfg.hidden_size, cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim)
    prefix = {"attention": "", "checkpoint": "router_"}[source]
    with torch.no_grad():
        for i in layers:
            attn = model.transformer.layers[i].self_attn
            q, k = getattr(attn, f"{prefix}q_proj"), getattr(attn, f"{prefix}k_proj")
            if q is None:
                raise ValueError(f"layer {i} has no router projections in this checkpoint")
            routers.q[str(i)].weight.copy_(q.weight.float())
            routers.k[str(i)].weight.copy_(k.weight.float())
    return routers.to(device)


def save_routers(routers: Routers, path: Path, extra: dict | None = None) -> None:
    meta = {"router_layer_idx": ",".join(map(str, routers.layers))} | {k: str(v) for k, v in (extra or {}).items()}
    save_file({k: v.contiguous() for k, v in routers.state().items()}, str(path), metadata=meta)


def load_routers(routers: Routers, path: Path) -> None:
    state = load_file(str(path))
    with torch.no_grad():
        for i in routers.layers:
            routers.q[str(i)].weight.copy_(state[f"model.layers.{i}.self_attn.router_q_proj.0.weight"])
            routers.k[str(i)].weight.copy_(state[f"model.layers.{i}.self_attn.router_k_proj.0.weight"])


def run(model: MSAModel, out: Path, layers: list[int], stores: list[Store], val: dict[str, Store], train: TrainConfig,
        device: str, eval_every: int, on_step: Callable[[int, float], None] | None = None,
        on_eval: Callable[[dict], None] | None = None, meta: dict | None = None) -> Routers:
    """Train (or resume) routers into OUT on built stores; `val` must hold a "synthetic" store (the recall
    logged per layer); every validation store's mean recall is logged too. Returns the trained routers."""
    out.mkdir(parents=True, exist_ok=True)
    routers = init_routers(model, layers, device)
    opt = torch.optim.AdamW(routers.parameters(), lr=train.lr, weight_decay=0.0)
    start = 0
    if (out / "state.pt").exists():
        state = torch.load(out / "state.pt", map_location=device, weights_only=True)
        load_routers(routers, out / "routers.safetensors")
        opt.load_state_dict(state["optimizer"])
        start = state["step"]
    log = (out / "log.jsonl").open("a")

    def checkpoint(step: int, loss: float) -> None:
        recall = {name: evaluate(routers, store) for name, store in val.items()}
        record = {"step": step, "loss": loss, "time": time.time(), "recall": recall["synthetic"],
                  "recall_sets": {name: r["mean"] for name, r in recall.items()}, "train": asdict(train)} | (meta or {})
        log.write(json.dumps(record) + "\n")
        log.flush()
        save_routers(routers, out / "routers.safetensors", {"step": step})
        torch.save({"step": step, "optimizer": opt.state_dict()}, out / "state.pt")
        if on_eval:
            on_eval(record)

    if start == 0:
        checkpoint(0, float("nan"))
    loss = float("nan")
    for step, loss, _ in train_steps(routers, stores, train, start, opt):
        if on_step:
            on_step(step, loss)
        if (step + 1) % eval_every == 0 or step + 1 == train.steps:
            checkpoint(step + 1, loss)
    log.close()
    return routers
