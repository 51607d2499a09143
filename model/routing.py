"""Routing a question to memories and placing their compressed K/V before it (MSA_SPEC.md section 3).

Routing happens inside the question's prefill: at each router layer the routing query is projected
from that layer's hidden state, which already reflects the memories read by lower router layers. The
selected documents' pooled K/V are then read as memory rows beside the template prefix and the question's
own K/V (`msa.kernels.sparse_attn`): attention does not depend on key order, so this is MSA's
[prefix; chunks; question] context without copying the chunks into it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from msa.kernels.route import RouteSpec, top_k_rows
from msa.model.config import ModelConfig
from msa.model.decoder import Attention, CachedMixer, KVCache, Rope
from msa.model.memory import ReadableMemory

MODES = ("compat", "clean")
AGGREGATES = ("mean", "max", "rrf")
RRF_K = 60  # reciprocal-rank-fusion constant (the usual choice)


def route_spec(cfg: ModelConfig, mode: str, dtype: torch.dtype) -> RouteSpec:
    """Clean: cosine, fp32. Compat: the reference's normalisation and scale, scores in the model's `dtype` (the
    reference scores in its weights' dtype: bf16 for the published model, fp32 for an fp32 one; spec 3.2)."""
    msa = cfg.msa
    reduces = dict(head_reduce=msa.head_reduce_method, query_reduce=msa.query_reduce_method,
                   chunk_reduce=msa.chunk_reduce_method)
    if mode == "clean":
        return RouteSpec(cosine=True, scale=None, score_dtype=torch.float32, **reduces)
    if mode != "compat":
        raise ValueError(f"mode {mode!r} is not one of {MODES}")
    cosine = msa.compat_cosine
    scale = None if cosine and msa.decouple_router else cfg.head_dim ** -0.5
    return RouteSpec(cosine=cosine, scale=scale, score_dtype=dtype, **reduces)


@dataclass
class LayerRouting:
    """One router layer's choice: the scores of the documents routing saw and the selected numbers."""

    numbers: Tensor  # [C] document numbers, ascending: every document, or a sharded store's candidates
    scores: Tensor  # [C] fp32, -inf for documents without chunks
    selected: list[int]  # document numbers, best first
    selected_scores: list[float]


@dataclass
class Routing:
    layers: dict[int, LayerRouting] = field(default_factory=dict)

    def ranking(self, aggregate: str = "mean") -> list[tuple[int, float]]:
        """One ranking over router layers, best first (ties by lower document number).

        "mean": mean of the layers' scores (comparable in cosine mode); "max": best layer's score;
        "rrf": reciprocal-rank fusion, sum over layers of 1 / (60 + rank), robust to score scales. A sharded
        store answers candidates only: exact for the top k of "mean" and "max"; "rrf" ranks the candidates.
        """
        if aggregate not in AGGREGATES:
            raise ValueError(f"aggregate {aggregate!r} is not one of {AGGREGATES}")
        if not self.layers:
            return []
        numbers, scores = self._table()
        if aggregate == "mean":
            total = scores.mean(0)
        elif aggregate == "max":
            total = scores.amax(0)
        else:
            ranks = torch.argsort(torch.argsort(-scores, dim=1, stable=True), dim=1).float()  # [L, N]
            total = (1.0 / (RRF_K + 1 + ranks)).sum(0)
        values, order = torch.sort(total.cpu(), descending=True, stable=True)
        return [(numbers[i], v) for i, v in zip(order.tolist(), values.tolist(), strict=True) if v > float("-inf")]

    def read_scores(self) -> dict[int, float]:
        """Each selected document's mean score over the layers that selected it (what KV reading cites: the
        same on one device and over ranks)."""
        picked: dict[int, list[float]] = {}
        for lr in self.layers.values():
            for n, s in zip(lr.selected, lr.selected_scores, strict=True):
                picked.setdefault(n, []).append(s)
        return {n: sum(s) / len(s) for n, s in picked.items()}

    def _table(self) -> tuple[list[int], Tensor]:
        """(numbers [N] ascending, scores [L, N]): the layers' documents, -inf where a layer did not see one."""
        layers = list(self.layers.values())
        if all(lr.numbers is layers[0].numbers for lr in layers):  # routed in one round: one set of documents
            return layers[0].numbers.tolist(), torch.stack([lr.scores for lr in layers])
        numbers = torch.unique(torch.cat([lr.numbers.cpu() for lr in layers]))
        scores = torch.full((len(layers), len(numbers)), float("-inf"))
        for row, lr in zip(scores, layers, strict=True):
            row[torch.searchsorted(numbers, lr.numbers.cpu())] = lr.scores.cpu()
        return numbers.tolist(), scores


class RoutedPrefillMixer(CachedMixer):
    """Question prefill: on its first call per layer, fill the cache with that layer's context prefix.

    Every layer gets the template prefix; router layers also route the question's routing tokens
    against the memory and, when `inject` is set, add the selected documents' chunks. Without injection
    no layer's hidden state depends on what is read, so the routing queries are collected, chunk by chunk
    when the question runs as several forwards, and scored together by `finish` (one round through a
    sharded index instead of one per layer). With injection a layer's chunks must be chosen before any
    token attends there, so the question runs as one forward.
    """

    def __init__(self, cache: KVCache, cfg: ModelConfig, template: KVCache, memory: ReadableMemory,
                 routing_tokens: Tensor, spec: RouteSpec, k: int, inject: bool = True) -> None:
        super().__init__(cache)
        self.cfg, self.template, self.memory = cfg, template, memory
        self.routing_tokens, self.spec, self.k, self.inject = routing_tokens, spec, k, inject
        self.routing = Routing()
        self.pending: dict[int, list[Tensor]] = {}  # layer -> routing queries of each chunk, scored by `finish`

    def __call__(self, layer: int, attn: Attention, h: Tensor, rope: Rope) -> Tensor:
        self.add_template(layer)
        tokens = self.routing_rows(layer, h.shape[0])
        if tokens is not None:
            self.take(layer, self._routing_query(attn, h, rope, tokens))
        return super().__call__(layer, attn, h, rope)

    def add_template(self, layer: int) -> None:
        """The layer's context prefix, before its first tokens."""
        if self.cache.length(layer) == 0:
            self.cache.extend(layer, self.template.k[layer], self.template.v[layer])

    def routing_rows(self, layer: int, tokens: int) -> Tensor | None:
        """Which of the next `tokens` question tokens give the layer's routing query (a mask [tokens] over this
        forward's rows); None where the layer does not route (not a router layer, no memory, question through)."""
        done = self.cache.length(layer) - self.template.length(layer)  # question tokens already through
        if layer not in self.cfg.msa.router_layers or not len(self.memory) or done >= len(self.routing_tokens):
            return None
        if self.inject and (done or tokens < len(self.routing_tokens)):
            raise ValueError("a prefill that injects memory routes the whole question in one forward")
        return self.routing_tokens[done:done + tokens]

    def take(self, layer: int, q: Tensor) -> None:
        """The layer's routing query q [S, H, D]: routed now (its chunks read by the layer) when injecting, else
        kept for `finish`."""
        if not self.inject:
            self.pending.setdefault(layer, []).append(q)
        elif selected := self._select({layer: q})[layer]:
            self.cache.memory[layer] = self.memory.chunks(layer, selected)

    def finish(self) -> Routing:
        """Score the collected routing queries of every layer at once; -> the routing."""
        if self.pending:
            self._select({layer: torch.cat(parts) for layer, parts in self.pending.items()})
            self.pending = {}
        return self.routing

    def _routing_query(self, attn: Attention, h: Tensor, rope: Rope, tokens: Tensor) -> Tensor:
        if self.cfg.msa.decouple_router:
            return attn.routing_query(h[tokens])  # [S, H, D]
        return attn.project(h, rope)[0][tokens]  # the attention query (after q_norm, RoPE)

    def _select(self, queries: dict[int, Tensor]) -> dict[int, list[int]]:
        """Route layers' queries {layer: q} in one call and take each layer's top k -> {layer: selected}."""
        numbers, scores = self.memory.route(queries, self.spec, self.k)  # [C], [L, C]
        idx, vals = top_k_rows(scores, self.k)  # [L, k]
        picked, vals = numbers[idx.to(numbers.device)].cpu(), vals.cpu()  # only the chosen numbers come back
        for layer, row, p, v in zip(queries, scores, picked, vals, strict=True):
            keep = v > float("-inf")
            self.routing.layers[layer] = LayerRouting(numbers, row.float(), p[keep].tolist(), v[keep].tolist())
        return {layer: self.routing.layers[layer].selected for layer in queries}
