"""Cached router inputs: what router training needs from the frozen backbone, computed once.

A routing key is `router_k_proj` of the layer's normalised hidden state, mean-pooled over a chunk; by
linearity that equals `router_k_proj` of the pooled hidden state, so documents are cached as pooled
hidden states per chunk [C, hidden]. Questions are cached as the hidden states of their routing span
[S, hidden], from the same routing-only pass inference uses (template prefix, no memory injected).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from msa.kernels.chunk_pool import chunk_pool
from msa.model.api import MSAModel
from msa.model.decoder import Attention, CachedMixer, KVCache, Rope
from msa.model.encode import DocumentMixer
from msa.model.prompts import document_text, question_tokens


@dataclass
class Ragged:
    """Variable-length rows packed along dim 0: rows[i] = data[offsets[i]:offsets[i+1]], per layer."""

    data: dict[int, Tensor]  # layer -> [N_total, hidden]
    offsets: Tensor  # [rows + 1]

    @property
    def rows(self) -> int:
        return len(self.offsets) - 1

    def to(self, device: str | torch.device, dtype: torch.dtype | None = None) -> Ragged:
        return Ragged({k: v.to(device, dtype) for k, v in self.data.items()}, self.offsets.to(device))

    @staticmethod
    def cat(parts: list[Ragged]) -> Ragged:
        sizes = torch.cat([p.offsets[1:] - p.offsets[:-1] for p in parts])
        offsets = torch.zeros(len(sizes) + 1, dtype=torch.long)
        offsets[1:] = torch.cumsum(sizes, 0)
        return Ragged({k: torch.cat([p.data[k] for p in parts]) for k in parts[0].data}, offsets)


class HiddenCapture(DocumentMixer):
    """Document attention as in encoding, recording chunk-pooled normalised hidden states."""

    def __init__(self, cu_seqlens: Tensor, msa, layers: list[int]) -> None:
        super().__init__(cu_seqlens, msa)
        self.layers, self.captured = set(layers), {}

    def __call__(self, layer: int, attn: Attention, h: Tensor, rope: Rope) -> Tensor:
        if layer in self.layers:
            pooled = chunk_pool(h[:, None, :], self.cu_seqlens, self.msa.pooling_kernel_size)[0]  # [C, 1, hidden]
            self.captured[layer] = pooled[:, 0].float()
        return super().__call__(layer, attn, h, rope)


class QueryCapture(CachedMixer):
    """The routing-only question pass: template prefix per layer, hidden states of the routing span."""

    def __init__(self, template: KVCache, routing: Tensor, layers: list[int]) -> None:
        super().__init__(KVCache(len(template.k)))
        self.template, self.routing, self.layers, self.captured = template, routing, set(layers), {}

    def __call__(self, layer: int, attn: Attention, h: Tensor, rope: Rope) -> Tensor:
        if self.cache.length(layer) == 0:
            self.cache.extend(layer, self.template.k[layer], self.template.v[layer])
        if layer in self.layers:
            self.captured[layer] = h[self.routing].float()
        return super().__call__(layer, attn, h, rope)


@torch.no_grad()
def document_features(model: MSAModel, texts: list[str], layers: list[int], batch_tokens: int = 8192,
                      progress: Callable[[int], None] | None = None) -> Ragged:
    """Pooled hidden states per chunk of each document (rendered as memories, numbered 0..n-1)."""
    tok, net = model.tokenizer, model.transformer
    rendered = [tok.encode(document_text(i, t)) for i, t in enumerate(texts)]
    parts, start = [], 0
    while start < len(rendered):
        end, total = start, 0
        while end < len(rendered) and (end == start or total + len(rendered[end]) <= batch_tokens):
            total, end = total + len(rendered[end]), end + 1
        batch = rendered[start:end]
        lengths = torch.tensor([len(t) for t in batch])
        cu = torch.zeros(len(batch) + 1, dtype=torch.long)
        cu[1:] = torch.cumsum(lengths, 0)
        mixer = HiddenCapture(cu.to(model.device), model.config.msa, layers)
        ids = torch.tensor([i for t in batch for i in t], device=model.device)
        positions = torch.cat([torch.arange(n) for n in lengths.tolist()]).to(model.device)
        net.hidden_states(ids, positions, mixer, num_layers=max(layers) + 1)
        parts.append(Ragged({k: v.cpu() for k, v in mixer.captured.items()}, mixer.cu_chunks.cpu()))
        if progress:
            progress(end - start)
        start = end
    return Ragged.cat(parts)


@torch.no_grad()
def query_features(model: MSAModel, questions: list[str], layers: list[int], top_k: int | None = None,
                   progress: Callable[[int], None] | None = None) -> Ragged:
    """Hidden states of each question's routing span, at the positions inference gives them."""
    top_k = model.config.msa.doc_top_k if top_k is None else top_k
    start = len(model.template_ids) + top_k
    parts = []
    for q in questions:
        qt = question_tokens(model.tokenizer, q)
        ids = torch.tensor(qt.ids, device=model.device)
        mixer = QueryCapture(model.template, torch.tensor(qt.routing, device=model.device), layers)
        model.transformer.hidden_states(ids, start + torch.arange(len(qt.ids), device=model.device), mixer,
                                        num_layers=max(layers) + 1)
        n = int(sum(qt.routing))
        parts.append(Ragged({k: v.cpu() for k, v in mixer.captured.items()}, torch.tensor([0, n])))
        if progress:
            progress(1)
    return Ragged.cat(parts)
