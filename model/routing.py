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

from msa.kernels.route import RouteSpec, top_k
from msa.model.config import ModelConfig
from msa.model.decoder import Attention, CachedMixer, KVCache, Rope
from msa.model.memory import Memory

MODES = ("compat", "clean")
AGGREGATES = ("mean", "max", "rrf")
RRF_K = 60  # reciprocal-rank-fusion constant (the usual choice)


def route_spec(cfg: ModelConfig, mode: str) -> RouteSpec:
    """Clean: cosine, fp32. Compat: the reference's normalisation, scale and bf16 scores (spec 3.2)."""
    msa = cfg.msa
    reduces = dict(head_reduce=msa.head_reduce_method, query_reduce=msa.query_reduce_method,
                   chunk_reduce=msa.chunk_reduce_method)
    if mode == "clean":
        return RouteSpec(cosine=True, scale=None, score_dtype=torch.float32, **reduces)
    if mode != "compat":
        raise ValueError(f"mode {mode!r} is not one of {MODES}")
    cosine = msa.compat_cosine
    scale = None if cosine and msa.decouple_router else cfg.head_dim ** -0.5
    return RouteSpec(cosine=cosine, scale=scale, score_dtype=torch.bfloat16, **reduces)


@dataclass
class LayerRouting:
    """One router layer's choice: scores of every document (memory order) and the selected numbers."""

    scores: Tensor  # [N] fp32, -inf for documents without chunks
    selected: list[int]  # document numbers, best first
    selected_scores: list[float]


@dataclass
class Routing:
    numbers: list[int]  # document numbers in memory order (index of `scores`)
    layers: dict[int, LayerRouting] = field(default_factory=dict)

    def ranking(self, aggregate: str = "mean") -> list[tuple[int, float]]:
        """One ranking over router layers, best first (ties by lower document number).

        "mean": mean of the layers' scores (comparable in cosine mode); "max": best layer's score;
        "rrf": reciprocal-rank fusion, sum over layers of 1 / (60 + rank), robust to score scales.
        """
        if aggregate not in AGGREGATES:
            raise ValueError(f"aggregate {aggregate!r} is not one of {AGGREGATES}")
        if not self.layers:
            return []
        scores = torch.stack([lr.scores for lr in self.layers.values()])  # [L, N]
        if aggregate == "mean":
            total = scores.mean(0)
        elif aggregate == "max":
            total = scores.amax(0)
        else:
            ranks = torch.argsort(torch.argsort(-scores, dim=1, stable=True), dim=1).float()  # [L, N]
            total = (1.0 / (RRF_K + 1 + ranks)).sum(0)
        values, order = torch.sort(total.cpu(), descending=True, stable=True)
        return [(self.numbers[i], v) for i, v in zip(order.tolist(), values.tolist(), strict=True) if v > float("-inf")]


class RoutedPrefillMixer(CachedMixer):
    """Question prefill: on its first call per layer, fill the cache with that layer's context prefix.

    Every layer gets the template prefix; router layers also route the question's routing tokens
    against the memory and, when `inject` is set, add the selected documents' chunks. Without injection
    no layer's hidden state depends on what is read, so the routing queries are collected and scored
    together by `finish` (one round through a sharded index instead of one per layer).
    """

    def __init__(self, cache: KVCache, cfg: ModelConfig, template: KVCache, memory: Memory,
                 routing_tokens: Tensor, spec: RouteSpec, k: int, inject: bool = True) -> None:
        super().__init__(cache)
        self.cfg, self.template, self.memory = cfg, template, memory
        self.routing_tokens, self.spec, self.k, self.inject = routing_tokens, spec, k, inject
        self.routing = Routing(numbers=memory.numbers)
        self.pending: dict[int, Tensor] = {}  # layer -> routing queries, scored by `finish`

    def __call__(self, layer: int, attn: Attention, h: Tensor, rope: Rope) -> Tensor:
        if self.cache.length(layer) == 0:
            if layer in self.cfg.msa.router_layers and len(self.memory):
                q = self._routing_query(attn, h, rope)
                if self.inject:
                    selected = self._select(layer, self.memory.route(layer, q, self.spec))
                    if selected:
                        self.cache.memory[layer] = self.memory.chunks(layer, selected)
                else:
                    self.pending[layer] = q
            self.cache.extend(layer, self.template.k[layer], self.template.v[layer])
        return super().__call__(layer, attn, h, rope)

    def finish(self) -> Routing:
        """Score the collected routing queries of every layer at once; -> the routing."""
        if self.pending:
            for layer, scores in self.memory.route_many(self.pending, self.spec).items():
                self._select(layer, scores)
            self.pending = {}
        return self.routing

    def _routing_query(self, attn: Attention, h: Tensor, rope: Rope) -> Tensor:
        if self.cfg.msa.decouple_router:
            return attn.routing_query(h[self.routing_tokens])  # [S, H, D]
        return attn.project(h, rope)[0][self.routing_tokens]  # the attention query (after q_norm, RoPE)

    def _select(self, layer: int, scores: Tensor) -> list[int]:
        idx, vals = top_k(scores, self.k)
        selected = [self.routing.numbers[i] for i in idx.tolist()]
        self.routing.layers[layer] = LayerRouting(scores=scores.float(), selected=selected,
                                                  selected_scores=vals.float().tolist())
        return selected
