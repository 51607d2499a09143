"""LoRA adapter helpers for tests: random weights, the oracle that merges an adapter into plain weights, and a
fixed routing-adapter training batch."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from msa.model.api import MSAModel
from msa.model.decoder import Transformer
from msa.model.lora import READER_FILE, LoRAAdapter
from msa.model.train.router import Routers
from msa.model.train.router_run import init_routers
from msa.model.train.routing_adapter import AdapterTrainConfig, Candidates, step_loss
from msa.model.train.synthetic import Dataset, make_dataset
from msa.model.train.teacher import Teacher


def randomize(adapter: LoRAAdapter, seed: int = 0, scale: float = 0.05) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in adapter.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * scale)


def reader_checkpoint(src: Path, tmp_path: Path) -> Path:
    """A copy of checkpoint `src` with a random reader adapter."""
    ckpt = tmp_path / "ckpt"
    shutil.copytree(src, ckpt)
    reader = LoRAAdapter(MSAModel.from_pretrained(src).transformer, rank=2, alpha=4.0)
    randomize(reader, seed=3, scale=0.1)
    reader.save(ckpt / READER_FILE)
    return ckpt


def merge(adapter: LoRAAdapter, into: Transformer) -> Transformer:
    """W += alpha/r * B @ A for every adapted layer of INTO (a plain copy of the adapter's transformer)."""
    with torch.no_grad():
        for name, m in adapter.modules.items():
            layer, target = name.removeprefix("model.layers.").split(".", 1)
            parent, attr = target.split(".")
            w = getattr(getattr(into.layers[int(layer)], parent), attr).weight
            w += (m.scale * (m.lora_b.double() @ m.lora_a.double())).to(w.dtype)
    return into


@dataclass
class FixedBatch:
    """A frozen tiny model with a fresh routing adapter and its routers, and one batch drawn again at every call."""

    model: MSAModel
    routers: Routers
    dataset: Dataset
    candidates: Candidates
    state: object

    def loss(self, cfg: AdapterTrainConfig, teacher: Teacher | None = None) -> torch.Tensor:
        self.candidates.rng.setstate(self.state)  # the same batch every time
        return step_loss(self.model, self.routers, self.candidates, cfg, teacher)


def fixed_batch(checkpoint: Callable) -> FixedBatch:
    model = MSAModel.from_pretrained(checkpoint("llama", pooling_kernel_size=4))
    for p in model.transformer.parameters():
        p.requires_grad_(False)
    torch.manual_seed(0)
    model.router_adapter = LoRAAdapter(model.transformer, rank=4)
    routers = init_routers(model, list(model.config.msa.router_layers), "cpu", "checkpoint")
    ds, _ = make_dataset("train", 24, 24, seed=2, max_facts=2)
    candidates = Candidates(model, ds, seed=0)
    return FixedBatch(model, routers, ds, candidates, candidates.rng.getstate())
