"""Routing adapter training: a LoRA adapter on the frozen backbone and the routers, trained together.

Routers alone are a linear map of one frozen hidden state per question token and per memory chunk, and
underfit whatever the data (docs/evaluation.md). The routing adapter lets the backbone's hidden states
themselves learn to route: it is on while memories are encoded and questions routed (`MSAModel.routing`).
Each step scores a batch of questions of one training store against their gold memories, look-alikes that
share their words and random memories of the same store (decoupled InfoNCE, as router training).

The run directory holds `routers.safetensors` and `routing_adapter.safetensors` (written at every
evaluation), `state.pt` (step and optimizer state: an existing run resumes) and `log.jsonl`.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from msa.model.api import MSAModel
from msa.model.lora import ROUTING_FILE, LoRAAdapter
from msa.model.prompts import document_text
from msa.model.train.reader import look_alikes
from msa.model.train.router import Routers, decoupled_infonce, evaluate, layer_scores
from msa.model.train.router_features import document_hidden, question_hidden
from msa.model.train.router_run import feature_store, init_routers, load_routers, save_routers
from msa.model.train.synthetic import Dataset
from msa.model.train.teacher import Teacher, distill_loss


@dataclass(frozen=True)
class AdapterTrainConfig:
    steps: int = 600
    questions: int = 64  # questions per step, from one training store
    candidates: int = 320  # memories each step's questions are scored against: golds, look-alikes, random
    rank: int = 16
    lr: float = 2e-4  # the adapter's; the routers get router_lr_scale times it
    router_lr_scale: float = 5.0
    temperature: float = 0.1
    seed: int = 0
    distill: float = 0.0  # weight of the MiniLM teacher's ranking (`teacher.distill_loss`); 0: labels only
    teacher_temperature: float = 0.05  # MiniLM cosines are close together: a sharp softmax


class Candidates:
    """Question batches of one store with the memories they are scored against."""

    def __init__(self, model: MSAModel, ds: Dataset, seed: int) -> None:
        self.ds, self.rng = ds, random.Random(seed)
        self.rendered = [model.tokenizer.encode(document_text(i, t)) for i, t in enumerate(ds.memories)]
        self.similar = look_alikes(ds.memories)

    def sample(self, questions: int, memories: int) -> tuple[list[str], list[int], list[tuple[int, ...]]]:
        """-> (questions, candidate memory numbers, each question's gold memory numbers)."""
        rows = self.rng.sample(range(len(self.ds.examples)), min(questions, len(self.ds.examples)))
        chosen: dict[int, None] = {}
        for r in rows:
            e = self.ds.examples[r]
            chosen |= dict.fromkeys(e.gold)
            chosen |= dict.fromkeys(self.similar(e.question, e.gold[0])[:2])
        while len(chosen) < min(memories, len(self.ds.memories)):
            chosen[self.rng.randrange(len(self.ds.memories))] = None
        return [self.ds.examples[r].question for r in rows], list(chosen), [self.ds.examples[r].gold for r in rows]


def step_loss(model: MSAModel, routers: Routers, batch: Candidates, cfg: AdapterTrainConfig,
              teacher: Teacher | None = None) -> torch.Tensor:
    """Mean over router layers of the decoupled InfoNCE of one batch, through the adapted backbone, plus
    `cfg.distill` times the KL divergence from the teacher's ranking of the same candidates."""
    layers = routers.layers
    questions, docs, gold = batch.sample(cfg.questions, cfg.candidates)
    if teacher is not None and cfg.distill:
        taught, known = teacher.scores(questions, [batch.ds.memories[d] for d in docs])
    position = {d: j for j, d in enumerate(docs)}
    mask = torch.zeros(len(questions), len(docs), dtype=torch.bool, device=model.device)
    for r, g in enumerate(gold):
        mask[r, [position[d] for d in g]] = True
    model.encode_template()  # the adapter moved: questions attend to the template it computes
    with autocast(model):
        doc_h = document_hidden(model, [batch.rendered[d] for d in docs], layers)
        q_h = question_hidden(model, questions, layers)
    total = torch.zeros((), device=model.device)
    for i in layers:
        scores = layer_scores(routers, i, q_h, doc_h)
        total = total + decoupled_infonce(scores, mask, cfg.temperature)
        if teacher is not None and cfg.distill:
            total = total + cfg.distill * distill_loss(scores, taught, known, cfg.temperature, cfg.teacher_temperature)
    return total / len(layers)


def autocast(model: MSAModel) -> torch.autocast:
    """bfloat16 matmuls on a GPU (training speed), none on the CPU."""
    return torch.autocast("cuda", dtype=torch.bfloat16, enabled=model.device.type == "cuda")


def measure(model: MSAModel, routers: Routers, val: dict[str, Dataset]) -> dict[str, dict[int, float]]:
    """Mean-over-layers recall@1/4/16 of each validation store, encoded through the current adapter."""
    model.encode_template()
    with autocast(model):
        return {name: evaluate(routers, feature_store(model, ds, routers.layers, str(model.device), name))["mean"]
                for name, ds in val.items()}


def train_routing_adapter(model: MSAModel, out: Path, layers: list[int], train: list[Dataset],
                          val: dict[str, Dataset], cfg: AdapterTrainConfig, eval_every: int,
                          on_step: Callable[[int, float], None] | None = None,
                          on_eval: Callable[[dict], None] | None = None, meta: dict | None = None,
                          teacher: Teacher | None = None) -> tuple[LoRAAdapter, Routers]:
    """Train (or resume) a routing adapter and MODEL's routers on TRAIN stores into OUT; returns both.

    Starts from the checkpoint's own routers; MODEL's routing adapter is replaced by the one trained. With a
    `teacher` and `cfg.distill` > 0, each batch also learns the teacher's ranking of its candidates."""
    out.mkdir(parents=True, exist_ok=True)
    for p in model.transformer.parameters():
        p.requires_grad_(False)
    torch.manual_seed(cfg.seed)
    routers = init_routers(model, layers, str(model.device), "checkpoint")
    if model.router_adapter is not None:
        raise ValueError("the checkpoint already has a routing adapter: train from one without "
                         f"(remove {ROUTING_FILE} from a copy of it)")
    adapter = model.router_adapter = LoRAAdapter(model.transformer, cfg.rank, 2.0 * cfg.rank)
    opt = torch.optim.AdamW([{"params": list(adapter.parameters()), "lr": cfg.lr},
                             {"params": list(routers.parameters()), "lr": cfg.router_lr_scale * cfg.lr}],
                            weight_decay=0.0)
    start = 0
    if (out / "state.pt").exists():
        state = torch.load(out / "state.pt", map_location=model.device, weights_only=True)
        load_routers(routers, out / "routers.safetensors")
        adapter.load_weights(out / ROUTING_FILE)
        opt.load_state_dict(state["optimizer"])
        start = state["step"]
    # seeded by the step it starts from: a resumed run draws new batches
    batches = [Candidates(model, ds, seed=cfg.seed * 1_000_003 + 1009 * i + start) for i, ds in enumerate(train)]
    log = (out / "log.jsonl").open("a")

    def checkpoint(step: int, loss: float) -> None:
        recall = measure(model, routers, val)
        record = {"step": step, "loss": loss, "time": time.time(), "recall_sets": recall,
                  "train": asdict(cfg)} | (meta or {})
        log.write(json.dumps(record) + "\n")
        log.flush()
        save_routers(routers, out / "routers.safetensors", {"step": step})
        adapter.save(out / ROUTING_FILE, {"step": str(step)})
        torch.save({"step": step, "optimizer": opt.state_dict()}, out / "state.pt")
        if on_eval:
            on_eval(record)

    if start == 0:
        checkpoint(0, float("nan"))
    for step in range(start, cfg.steps):
        loss = step_loss(model, routers, batches[step % len(batches)], cfg, teacher)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(adapter.parameters()) + list(routers.parameters()), 1.0)
        opt.step()
        if on_step:
            on_step(step, float(loss.detach()))
        if (step + 1) % eval_every == 0 or step + 1 == cfg.steps:
            checkpoint(step + 1, float(loss.detach()))
    log.close()
    model.encode_template()
    return adapter, routers
