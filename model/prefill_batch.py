"""Questions prefilled at the same time on one model go through one forward (kv reading).

A short question's prefill is launch-bound on a GPU: MSA-4B's 36 layers take ~44 ms for ~40 tokens on an H100,
nearly all of it kernel launches and routing rounds, not arithmetic. Questions packed side by side share those:
the projections and MLPs run over every question's tokens at once, while each question keeps its own template
prefix, routing, memory rows and causal attention (`PackedPrefillMixer`). A router layer's routing calls are
made at the same time from a thread pool, so questions over one state of a namespace share a pass over its keys
(the store's `CallBatcher`: a layer's first call goes at once, the others together after it). Each question's
result is its own prefill's within float tolerance (tests/test_prefill_batch.py). `MSAModel` feeds this from a
`CallBatcher`: a lone question goes alone at once; a packed forward holds at most a prefill chunk of tokens.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Executor, wait
from contextlib import nullcontext
from dataclasses import dataclass

import torch
from torch import Tensor

from msa.kernels.route import RouteSpec
from msa.kernels.sparse_attn import sparse_attention
from msa.model.decoder import Attention, KVCache, Rope, Transformer
from msa.model.int8 import OneTokenInt8
from msa.model.memory import ReadableMemory
from msa.model.prefill import Cancelled, IsCancelled, check
from msa.model.prompts import QuestionTokens
from msa.model.routing import RoutedPrefillMixer, Routing

log = logging.getLogger(__name__)
# cache, last logits [V] fp32 (None from a pass that does not inject), next position, routing, prompt tokens
Prefilled = tuple[KVCache, Tensor | None, int, Routing, int]


@dataclass(frozen=True)
class PrefillRequest:
    tokens: QuestionTokens
    memory: ReadableMemory
    cancelled: IsCancelled | None = None


@dataclass(frozen=True)
class Outcome:
    """One request's result of a shared call, or its own error (one question's failure is not the others')."""

    value: Prefilled | None = None
    error: BaseException | None = None

    def get(self) -> Prefilled:
        if self.error is not None:
            raise self.error
        return self.value


class QuestionFailed(Exception):
    """Question `index` of a shared forward failed with `error` (the others may go on without it)."""

    def __init__(self, index: int, error: Exception) -> None:
        super().__init__(f"question {index} of a packed prefill failed: {error}")
        self.index, self.error = index, error


class PackedPrefillMixer:
    """Each question's tokens are rows a .. b of the forward: shared projections, then per question its template
    prefix, routing (all questions' calls of a layer at the same time) and attention over its own cache."""

    def __init__(self, mixers: list[RoutedPrefillMixer], lengths: list[int], routed: list[Tensor], pool: Executor
                 ) -> None:
        self.mixers, self.lengths, self.pool = mixers, lengths, pool
        starts = [sum(lengths[:i]) for i in range(len(lengths))]
        self.spans = [(a, a + n) for a, n in zip(starts, lengths, strict=True)]
        self.routed = [rows + a for rows, a in zip(routed, starts, strict=True)]  # routing rows of the forward

    def __call__(self, layer: int, attn: Attention, h: Tensor, rope: Rope) -> Tensor:
        q, k, v = attn.project(h, rope)  # [T, H, D], [T, G, D], [T, G, D]
        routing = []
        for i, (m, n) in enumerate(zip(self.mixers, self.lengths, strict=True)):
            m.add_template(layer)
            if m.routing_rows(layer, n) is not None:
                routing.append(i)
        if routing:
            rows = torch.cat([self.routed[i] for i in routing])
            decoupled = self.mixers[0].cfg.msa.decouple_router
            queries = attn.routing_query(h[rows]) if decoupled else q[rows]  # [S, H, D]
            parts = queries.split([len(self.routed[i]) for i in routing])
            self._take_all(layer, list(zip(routing, parts, strict=True)))
        outs = []
        for m, (a, b) in zip(self.mixers, self.spans, strict=True):
            k_all, v_all = m.cache.extend(layer, k[a:b], v[a:b])
            outs.append(sparse_attention(q[a:b], k_all, v_all, attn.scale, m.cache.memory[layer]))
        return torch.cat(outs)

    def _take_all(self, layer: int, queries: list[tuple[int, Tensor]]) -> None:
        """Every question routes its layer query at the same time (worker threads on this thread's stream);
        all have finished when this returns. A question's failure is raised as `QuestionFailed`."""
        if len(queries) == 1:
            self._take(layer, *queries[0])
            return
        stream = torch.cuda.current_stream(queries[0][1].device) if queries[0][1].is_cuda else None

        def take(i: int, q: Tensor) -> None:
            with torch.no_grad(), torch.cuda.stream(stream) if stream is not None else nullcontext():
                self._take(layer, i, q)

        futures = [self.pool.submit(take, i, q) for i, q in queries]
        wait(futures)
        for f in futures:
            f.result()

    def _take(self, layer: int, i: int, q: Tensor) -> None:
        try:
            self.mixers[i].take(layer, q)
        except Exception as e:
            raise QuestionFailed(i, e) from e


def prefill_together(transformer: Transformer, template: KVCache, start: int, requests: list[PrefillRequest],
                     spec: RouteSpec, top_k: int, pool: Executor) -> list[Prefilled]:
    """Questions' injecting prefills in one forward; question positions start at `start` (as a lone prefill's)."""
    device, cfg = transformer.embed_tokens.weight.device, transformer.config
    lengths = [len(r.tokens.ids) for r in requests]
    ids = torch.tensor([t for r in requests for t in r.tokens.ids], device=device)
    positions = torch.cat([torch.arange(start, start + n) for n in lengths]).to(device)
    mixers = [RoutedPrefillMixer(KVCache(cfg.num_hidden_layers), cfg, template, r.memory,
                                 torch.tensor(r.tokens.routing, device=device), spec, top_k, inject=True)
              for r in requests]
    routed = [torch.tensor([i for i, on in enumerate(r.tokens.routing) if on], dtype=torch.int64).to(device)
              for r in requests]
    hidden = transformer.hidden_states(ids, positions, PackedPrefillMixer(mixers, lengths, routed, pool))
    last = torch.tensor(lengths).cumsum(0) - 1
    head = transformer.lm_head
    if isinstance(head, OneTokenInt8):  # its one-row forwards differ: each question's row alone, as its own prefill
        logits = torch.cat([head(hidden[j:j + 1]) for j in last.tolist()]).float()
    else:
        logits = head(hidden[last.to(device)]).float()  # [N, V]
    return [(m.cache, logits[i], start + n, m.finish(), n)
            for i, (m, n) in enumerate(zip(mixers, lengths, strict=True))]


def prefill_each(requests: list[PrefillRequest], alone: Callable[[PrefillRequest], Prefilled],
                 together: Callable[[list[PrefillRequest]], list[Prefilled]], budget: int) -> list[Outcome]:
    """A shared call's outcomes. Requests already cancelled are not run; the rest go `together` in groups of at
    most `budget` prompt tokens (a longer prompt, or a group of one, goes `alone`). A question whose routing fails
    in a shared forward is dropped from it and the others go again; any other failure of a shared forward sends its
    questions alone, so an error reaches only the question that causes it."""
    outcomes: list[Outcome | None] = [None] * len(requests)
    for i, r in enumerate(requests):
        try:
            check(r.cancelled)
        except Cancelled as e:
            outcomes[i] = Outcome(error=e)
    for group in _groups([i for i, o in enumerate(outcomes) if o is None], requests, budget):
        while len(group) > 1:
            try:
                for i, value in zip(group, together([requests[i] for i in group]), strict=True):
                    outcomes[i] = Outcome(value)
                group = []
            except QuestionFailed as failed:
                outcomes[group[failed.index]] = Outcome(error=failed.error)
                del group[failed.index]
            except Exception:
                log.warning("prefill_batch.shared_failed", extra={"questions": len(group)}, exc_info=True)
                break
        for i in group:
            try:
                outcomes[i] = Outcome(alone(requests[i]))
            except Exception as e:
                outcomes[i] = Outcome(error=e)
    return outcomes


def _groups(live: list[int], requests: list[PrefillRequest], budget: int) -> list[list[int]]:
    """Consecutive requests packed while their prompts total at most `budget` tokens."""
    groups: list[list[int]] = []
    total = budget + 1
    for i in live:
        n = len(requests[i].tokens.ids)
        if total + n > budget:
            groups.append([])
            total = 0
        groups[-1].append(i)
        total += n
    return groups
