"""Low-rank adapters: extra weights (W + alpha/r * B @ A on the linear layers) switched on only around some
forwards, per thread, so concurrent requests do not see each other's switch (`LoRAAdapter.active`).

A checkpoint directory may hold two, one per job the frozen 135M default model was never trained for:
- the **reader adapter** (`reader_adapter.safetensors`) teaches it to read notes and answer: on around the
  text-mode reading pass and decoding; encoding and routing keep the base weights;
- the **routing adapter** (`routing_adapter.safetensors`) teaches it to route: on around document encoding
  and the question's routing pass, so it changes stored encodings and is part of the model fingerprint.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import save_file
from torch import Tensor, nn

from msa.model.decoder import Transformer
from msa.model.int8 import Int8Weight, one_row

READER_FILE = "reader_adapter.safetensors"
ROUTING_FILE = "routing_adapter.safetensors"
TARGETS = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
           "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")


class AdapterError(ValueError):
    """An adapter file does not fit the model it is loaded into."""


class Switch(threading.local):
    on = False


class LoRALinear(nn.Module):
    """base(x), plus scale * B(A(x)) while the switch is on. A [r, in], B [out, r]; B starts at zero.

    A frozen adapter may be merged (`merge`): while on, one matmul with W + scale * B @ A replaces the three
    of the low-rank path (faster on small batches, at the cost of a copy of the weight). A merged weight may
    have an int8 copy too (`merged_int8`), which one-row forwards (decoding steps) use instead."""

    def __init__(self, base: nn.Linear, rank: int, scale: float, switch: Switch) -> None:
        super().__init__()
        self.base, self.scale, self.switch = base, scale, switch
        w = base.weight
        self.lora_a = nn.Parameter(torch.randn(rank, w.shape[1], device=w.device, dtype=torch.float32)
                                   / w.shape[1] ** 0.5)
        self.lora_b = nn.Parameter(torch.zeros(w.shape[0], rank, device=w.device, dtype=torch.float32))
        self.register_buffer("merged", None, persistent=False)
        self.merged_int8: Int8Weight | None = None

    @property
    def weight(self) -> Tensor:  # code that reads projection weights directly sees the base weights
        return self.base.weight

    @torch.no_grad()
    def merge(self) -> None:
        w = self.weight
        self.merged = (w.float() + self.scale * (self.lora_b @ self.lora_a)).to(w.dtype)

    def forward(self, x: Tensor) -> Tensor:
        if not self.switch.on:
            return self.base(x)
        inner_on = isinstance(self.base, LoRALinear) and self.base.switch.on
        if self.merged is not None and not inner_on:
            if self.merged_int8 is not None and one_row(x):
                return self.merged_int8(x)
            return F.linear(x, self.merged)  # the backbone's linear layers have no bias
        a, b = self.lora_a.to(x.dtype), self.lora_b.to(x.dtype)
        return self.base(x) + (x @ a.T @ b.T) * self.scale


class LoRAAdapter:
    """LoRA modules installed on a transformer's linear layers, off until `active()`."""

    def __init__(self, transformer: Transformer, rank: int = 16, alpha: float = 32.0,
                 targets: tuple[str, ...] = TARGETS) -> None:
        if rank < 1:
            raise AdapterError(f"rank must be >= 1, got {rank}")
        self.rank, self.alpha, self.targets = rank, alpha, targets
        self.switch = Switch()
        self.modules: dict[str, LoRALinear] = {}  # checkpoint-style name -> module
        for i, layer in enumerate(transformer.layers):
            for target in targets:
                parent_name, attr = target.split(".")
                parent = getattr(layer, parent_name)
                module = LoRALinear(getattr(parent, attr), rank, alpha / rank, self.switch)
                setattr(parent, attr, module)
                self.modules[f"model.layers.{i}.{target}"] = module

    def parameters(self) -> Iterator[nn.Parameter]:
        for m in self.modules.values():
            yield m.lora_a
            yield m.lora_b

    @contextmanager
    def active(self) -> Iterator[None]:
        """Forwards of this thread inside the block use the adapter; everything else the base weights."""
        before, self.switch.on = self.switch.on, True
        try:
            yield
        finally:
            self.switch.on = before

    def quantize_merged(self) -> int:
        """int8 copies of the merged weights for one-row forwards (`model/int8.py`) -> how many were made."""
        for m in self.modules.values():
            m.merged_int8 = Int8Weight.of(m.merged) if m.merged is not None else None
        return sum(m.merged_int8 is not None for m in self.modules.values())

    def save(self, path: str | Path, metadata: dict[str, str] | None = None) -> None:
        tensors = {}
        for name, m in self.modules.items():
            tensors[f"{name}.lora_A"] = m.lora_a.detach().to(torch.float16).cpu().contiguous()
            tensors[f"{name}.lora_B"] = m.lora_b.detach().to(torch.float16).cpu().contiguous()
        meta = {"rank": str(self.rank), "alpha": str(self.alpha), "targets": ",".join(self.targets)}
        save_file(tensors, str(path), metadata=meta | (metadata or {}))

    @classmethod
    def load(cls, transformer: Transformer, path: str | Path, merge: bool = False) -> LoRAAdapter:
        """Install the adapter stored at `path` (every tensor name and shape checked), frozen; `merge`: keep
        merged weights too (a copy of every adapted weight)."""
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        try:
            adapter = cls(transformer, int(meta["rank"]), float(meta["alpha"]), tuple(meta["targets"].split(",")))
        except (KeyError, ValueError, AttributeError) as e:
            raise AdapterError(f"{path}: metadata needs rank, alpha and targets of this model ({e})") from e
        adapter.load_weights(path)
        for p in adapter.parameters():
            p.requires_grad_(False)
        if merge:
            for m in adapter.modules.values():
                m.merge()
        return adapter

    def load_weights(self, path: str | Path) -> None:
        """Copy the weights stored at `path` into this adapter (every tensor name and shape checked)."""
        with safe_open(str(path), framework="pt") as f:
            expected = {f"{n}.lora_{s}" for n in self.modules for s in "AB"}
            if set(f.keys()) != expected:
                missing, extra = sorted(expected - set(f.keys())), sorted(set(f.keys()) - expected)
                raise AdapterError(f"{path}: missing {missing[:3]}, unexpected {extra[:3]}")
            with torch.no_grad():
                for name, m in self.modules.items():
                    for side, param in (("A", m.lora_a), ("B", m.lora_b)):
                        t = f.get_tensor(f"{name}.lora_{side}")
                        if t.shape != param.shape:
                            raise AdapterError(f"{path}: {name}.lora_{side} has shape {tuple(t.shape)}, "
                                               f"expected {tuple(param.shape)}")
                        param.copy_(t)
