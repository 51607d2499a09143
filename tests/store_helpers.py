"""Encodings and stores for store tests: random pooled tensors shaped like a tiny model's."""

from __future__ import annotations

from pathlib import Path

import torch

from msa.memstore.storage.records import Encoding, ModelBinding, NewDocument
from msa.memstore.storage.store import Store

LAYERS = (1, 3)
BINDING = ModelBinding("f" * 64, LAYERS, {"pooling_kernel_size": 64}, "tiny-test")


def encoding(text: str, seed: int = 0, heads: int = 2, dim: int = 8) -> Encoding:
    """Token ids from the text's bytes, one pooled chunk per 8 tokens, bf16 tensors."""
    g = torch.Generator().manual_seed(seed)
    ids = list(text.encode())
    chunks = -(-len(ids) // 8)

    def t() -> dict[int, torch.Tensor]:
        return {layer: torch.randn(chunks, heads, dim, generator=g).to(torch.bfloat16) for layer in LAYERS}

    return Encoding(ids, t(), t(), t())


def doc(doc_id: str, text: str | None = None, seed: int = 0, **metadata: str) -> NewDocument:
    text = text or f"memory {doc_id}"
    return NewDocument(doc_id, text, metadata, encoding(text, seed))


def open_store(path: Path, **kwargs) -> Store:
    return Store(path, BINDING, create=True, **kwargs)
