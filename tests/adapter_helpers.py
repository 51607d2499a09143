"""LoRA adapter helpers for tests: random weights, and the oracle that merges an adapter into plain weights."""

from __future__ import annotations

import torch

from msa.model.decoder import Transformer
from msa.model.lora import LoRAAdapter


def randomize(adapter: LoRAAdapter, seed: int = 0, scale: float = 0.05) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in adapter.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * scale)


def merge(adapter: LoRAAdapter, into: Transformer) -> Transformer:
    """W += alpha/r * B @ A for every adapted layer of INTO (a plain copy of the adapter's transformer)."""
    with torch.no_grad():
        for name, m in adapter.modules.items():
            layer, target = name.removeprefix("model.layers.").split(".", 1)
            parent, attr = target.split(".")
            w = getattr(getattr(into.layers[int(layer)], parent), attr).weight
            w += (m.scale * (m.lora_b.double() @ m.lora_a.double())).to(w.dtype)
    return into
