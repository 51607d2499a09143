"""Model fingerprint: what a memory store is bound to (stored encodings are only valid for one model)."""

from __future__ import annotations

import hashlib
import json
from contextlib import ExitStack
from pathlib import Path

import torch
from safetensors import safe_open

from msa.model.checkpoints.loader import weight_files
from msa.model.config import ModelConfig
from msa.model.lora import ROUTING_FILE


def fingerprint(path: str | Path) -> str:
    """sha256 over the canonical config.json, the parsed MSA parameters and every tensor (name, dtype,
    shape, bytes) in name order, so re-sharding a checkpoint keeps its fingerprint; then the routing adapter's
    metadata and tensors, if there is one (it changes encodings; the reader adapter does not)."""
    path = Path(path)
    cfg = ModelConfig.from_file(path)
    h = hashlib.sha256()
    h.update(json.dumps(cfg.raw, sort_keys=True).encode())
    h.update(json.dumps(cfg.msa.to_dict(), sort_keys=True).encode())
    with ExitStack() as stack:
        owner = {}
        for file in weight_files(path):
            handle = stack.enter_context(safe_open(str(file), framework="pt"))
            owner.update({name: handle for name in handle.keys()})  # noqa: SIM118
        _hash_tensors(h, owner)
    if (path / ROUTING_FILE).exists():
        with safe_open(str(path / ROUTING_FILE), framework="pt") as handle:
            meta = {k: v for k, v in (handle.metadata() or {}).items() if k in ("rank", "alpha", "targets")}
            h.update(f"{ROUTING_FILE}|{json.dumps(meta, sort_keys=True)}|".encode())
            _hash_tensors(h, dict.fromkeys(handle.keys(), handle))
    return h.hexdigest()


def _hash_tensors(h, owner: dict) -> None:
    """Each tensor's name, dtype, shape and bytes into `h`, in name order (owner: name -> open file)."""
    for name in sorted(owner):
        t = owner[name].get_tensor(name).contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
