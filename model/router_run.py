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
from msa.model.router_features import document_features, query_features
from msa.model.router_training import Routers, Store, TrainConfig, evaluate, train_steps
from msa.model.synthetic import make_dataset


@dataclass(frozen=True)
class DataConfig:
    stores: int = 4  # training stores; each step draws its questions from one of them
    memories: int = 1000  # memories per training store
    questions: int = 2000  # questions per training store
    max_facts: int = 20  # sentences per memory: 1 .. max_facts
    val_memories: int = 500
    val_questions: int = 500
    seed: int = 0


def build_stores(model: MSAModel, layers: list[int], data: DataConfig, device: str,
                 progress: Callable[[str, int, int], None] | None = None) -> tuple[list[Store], Store]:
    """Training stores and one held-out validation store (unseen relations, templates and names)."""
    names: set[str] = set()
    train = []
    for s in range(data.stores):
        ds, used = make_dataset("train", data.memories, data.questions, seed=data.seed * 1000 + s,
                                max_facts=data.max_facts, avoid_names=names)
        names |= used
        train.append(ds)
    val, _ = make_dataset("heldout", data.val_memories, data.val_questions, seed=data.seed,
                          max_facts=data.max_facts, avoid_names=names)

    def store(ds, label: str) -> Store:
        docs = document_features(model, ds.memories, layers,
                                 progress=progress and (lambda n: progress(label, n, len(ds.memories))))
        queries = query_features(model, [e.question for e in ds.examples], layers,
                                 progress=progress and (lambda n: progress(label, n, len(ds.examples))))
        return Store(docs.to(device), queries.to(device), [e.gold for e in ds.examples])

    return [store(ds, f"train store {i}") for i, ds in enumerate(train)], store(val, "validation store")


def init_routers(model: MSAModel, layers: list[int], device: str) -> Routers:
    """Routers initialised from each layer's attention projections (attention-derived routing)."""
    cfg = model.config
    routers = Routers(layers, cfg.hidden_size, cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim)
    with torch.no_grad():
        for i in layers:
            attn = model.transformer.layers[i].self_attn
            routers.q[str(i)].weight.copy_(attn.q_proj.weight.float())
            routers.k[str(i)].weight.copy_(attn.k_proj.weight.float())
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


def run(model: MSAModel, out: Path, layers: list[int], stores: list[Store], val: Store, train: TrainConfig,
        device: str, eval_every: int, on_step: Callable[[int, float], None] | None = None,
        on_eval: Callable[[dict], None] | None = None, meta: dict | None = None) -> Routers:
    """Train (or resume) routers into OUT on built stores; returns the trained routers."""
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
        record = {"step": step, "loss": loss, "time": time.time(), "recall": evaluate(routers, val),
                  "train": asdict(train)} | (meta or {})
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
