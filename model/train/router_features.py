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
from msa.model.decoder import Attention, KVCache, Rope, attend, segment_mask
from msa.model.encode import DocumentMixer, pack, token_batches
from msa.model.prompts import document_text, question_tokens


@dataclass
class Ragged:
    """Variable-length rows packed along dim 0: rows[i] = data[offsets[i]:offsets[i+1]], per layer."""

    data: dict[int, Tensor]  # layer -> [N_total, hidden]
    offsets: Tensor  # [rows + 1]

    @property
    def rows(self) -> int:
        return len(self.offsets) - 1

    def to(self, device: str | torch.device) -> Ragged:
        return Ragged({k: v.to(device) for k, v in self.data.items()}, self.offsets.to(device))

    @staticmethod
    def cat(parts: list[Ragged]) -> Ragged:
        sizes = torch.cat([p.offsets[1:] - p.offsets[:-1] for p in parts])
        offsets = torch.zeros(len(sizes) + 1, dtype=torch.long)
        offsets[1:] = torch.cumsum(sizes, 0)
        return Ragged({k: torch.cat([p.data[k] for p in parts]) for k in parts[0].data}, offsets)


def pool_chunks(h: Tensor, cu_seqlens: Tensor, size: int) -> tuple[Tensor, Tensor]:
    """Differentiable chunk means of packed documents: h [T, hidden] -> ([C, hidden], cu_chunks [N + 1]),
    the same chunks as `chunk_pool` (64-token chunks per document, the last one partial)."""
    lengths = cu_seqlens[1:] - cu_seqlens[:-1]
    chunks = (lengths + size - 1) // size
    cu_chunks = torch.zeros(len(lengths) + 1, dtype=torch.long, device=h.device)
    cu_chunks[1:] = torch.cumsum(chunks, 0)
    doc = torch.repeat_interleave(torch.arange(len(lengths), device=h.device), lengths)  # [T]
    chunk = cu_chunks[doc] + (torch.arange(len(doc), device=h.device) - cu_seqlens[doc]) // size  # [T]
    total = torch.zeros(int(cu_chunks[-1]), h.shape[1], device=h.device, dtype=torch.float32)
    total = total.index_add(0, chunk, h.float())
    counts = torch.bincount(chunk, minlength=total.shape[0]).clamp(min=1)
    return total / counts[:, None], cu_chunks


class HiddenCapture(DocumentMixer):
    """Document attention as in encoding, recording chunk-pooled normalised hidden states (differentiably
    when gradients are on: training a routing adapter)."""

    def __init__(self, cu_seqlens: Tensor, msa, layers: list[int]) -> None:
        super().__init__(cu_seqlens, msa, store_layers=())  # only hidden states are needed, not pooled K/V
        self.layers, self.captured = set(layers), {}

    def __call__(self, layer: int, attn: Attention, h: Tensor, rope: Rope) -> Tensor:
        if layer in self.layers:
            if torch.is_grad_enabled():
                self.captured[layer], self.cu_chunks = pool_chunks(h, self.cu_seqlens, self.msa.pooling_kernel_size)
            else:
                pooled, self.cu_chunks = chunk_pool(h[:, None, :], self.cu_seqlens, self.msa.pooling_kernel_size)
                self.captured[layer] = pooled[:, 0].float()  # [C, hidden]
        return super().__call__(layer, attn, h, rope)


class QueryCapture:
    """The routing-only pass of packed questions: each sees the template prefix and itself, causally;
    records the hidden states of the routing spans."""

    def __init__(self, template: KVCache, segments: Tensor, routing: Tensor, layers: list[int]) -> None:
        self.template, self.routing, self.layers, self.captured = template, routing, set(layers), {}
        self.mask = segment_mask(segments, prefix=template.length(0))

    def __call__(self, layer: int, attn: Attention, h: Tensor, rope: Rope) -> Tensor:
        if layer in self.layers:
            self.captured[layer] = h[self.routing].float()
        q, k, v = attn.project(h, rope)
        k = torch.cat([self.template.k[layer], k])
        v = torch.cat([self.template.v[layer], v])
        return attend(q, k, v, attn.scale, self.mask)


def document_hidden(model: MSAModel, rendered: list[list[int]], layers: list[int]) -> Ragged:
    """One packed forward over rendered documents -> pooled hidden states per chunk, on the model's device."""
    ids, positions, cu = pack(rendered, model.device)
    mixer = HiddenCapture(cu, model.config.msa, layers)
    with model.routing():
        model.transformer.hidden_states(ids, positions, mixer, num_layers=max(layers) + 1)
    return Ragged(mixer.captured, mixer.cu_chunks)


def question_hidden(model: MSAModel, questions: list[str], layers: list[int], top_k: int | None = None) -> Ragged:
    """One packed routing-only pass over questions -> hidden states of their routing spans, at the positions
    inference gives them, on the model's device."""
    top_k = model.config.msa.doc_top_k if top_k is None else top_k
    start = len(model.template_ids) + top_k
    qts = [question_tokens(model.tokenizer, q) for q in questions]
    lengths = torch.tensor([len(qt.ids) for qt in qts])
    segments = torch.repeat_interleave(torch.arange(len(qts)), lengths).to(model.device)
    ids = torch.tensor([i for qt in qts for i in qt.ids], device=model.device)
    routing = torch.tensor([r for qt in qts for r in qt.routing], device=model.device)
    positions = torch.cat([start + torch.arange(n) for n in lengths.tolist()]).to(model.device)
    mixer = QueryCapture(model.template, segments, routing, layers)
    with model.routing():
        model.transformer.hidden_states(ids, positions, mixer, num_layers=max(layers) + 1)
    spans = torch.tensor([sum(qt.routing) for qt in qts])
    offsets = torch.zeros(len(qts) + 1, dtype=torch.long)
    offsets[1:] = torch.cumsum(spans, 0)
    return Ragged(mixer.captured, offsets.to(model.device))


@torch.no_grad()
def document_features(model: MSAModel, texts: list[str], layers: list[int], batch_tokens: int = 8192,
                      progress: Callable[[int], None] | None = None) -> Ragged:
    """Pooled hidden states per chunk of each document (rendered as memories, numbered 0..n-1), on the CPU."""
    rendered = [model.tokenizer.encode(document_text(i, t)) for i, t in enumerate(texts)]
    parts = []
    for start, end in token_batches(rendered, batch_tokens):
        parts.append(document_hidden(model, rendered[start:end], layers).to("cpu"))
        if progress:
            progress(end - start)
    return Ragged.cat(parts)


@torch.no_grad()
def query_features(model: MSAModel, questions: list[str], layers: list[int], top_k: int | None = None,
                   batch: int = 64, progress: Callable[[int], None] | None = None) -> Ragged:
    """Hidden states of each question's routing span, at the positions inference gives them, on the CPU."""
    parts = []
    for b in range(0, len(questions), batch):
        parts.append(question_hidden(model, questions[b:b + batch], layers, top_k).to("cpu"))
        if progress:
            progress(len(questions[b:b + batch]))
    return Ragged.cat(parts)
