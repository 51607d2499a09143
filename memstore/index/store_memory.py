"""A namespace as the model reads it: `msa.model.memory.ReadableMemory` (route, chunks, documents by
number) over a routing-index snapshot, the content K/V cache and the store."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping

import torch
from torch import Tensor

from msa.kernels.route import RouteSpec
from msa.kernels.sparse_attn import MemoryRows
from msa.memstore.index.content_cache import ContentCache
from msa.memstore.index.protocols import LayerView
from msa.memstore.index.route_batcher import RouteBatcher
from msa.memstore.index.sharding import ShardedView
from msa.memstore.storage.records import Document
from msa.memstore.storage.store import Store


class StoreMemory:
    """Document numbers are ordinals. Routing uses the snapshot's views only, so one question sees one
    state of the index even while writes go on."""

    def __init__(self, ns: str, views: Mapping[int, LayerView], cache: ContentCache, store: Store,
                 batcher: RouteBatcher) -> None:
        self.ns, self.views, self.cache, self.store, self.batcher = ns, views, cache, store, batcher
        first = next(iter(views.values()))
        self.numbers: list[int] = sorted(first.slot_ordinal[first.alive()].tolist())
        self._order = torch.tensor(self.numbers, dtype=torch.int64)  # on the host, where selections land
        self._docs: dict[int, Document] = {}
        self.spent = {"route": 0.0, "fetch": 0.0}  # seconds in routing and in fetching K/V or text

    def _timed(self, kind: str, start: float) -> None:
        self.spent[kind] += time.perf_counter() - start

    def __len__(self) -> int:
        return len(self.numbers)

    def route(self, queries: dict[int, Tensor], spec: RouteSpec, k: int) -> tuple[Tensor, Tensor]:
        """{layer: q [S, H, D]} -> (numbers [C], scores [L, C]) as `Memory.route`: every live document from a
        single-device index; a sharded one answers its candidates for the top k, all layers in one round.
        Questions routed at the same time over the same state go together (`RouteBatcher`)."""
        start = time.perf_counter()
        first = next(iter(self.views.values()))
        layers = tuple(queries)
        if isinstance(first, ShardedView):  # the ranks answer their candidates, all layers in one round
            out = self.batcher.run((first.ns, first.epoch, layers, spec, k), queries,
                                   lambda batch: first.select_many(batch, spec, k))
        else:  # one device scores every live document; the same views are the same state (a request holds
            # its views, so their ids stay unique)
            out = self.batcher.run((id(first), layers, spec), queries, lambda batch: self._route_many(batch, spec))
        self._timed("route", start)
        return out

    def _route_many(self, batch: list[dict[int, Tensor]], spec: RouteSpec) -> list[tuple[Tensor, Tensor]]:
        """Several questions over this state, each layer's keys read once for all -> (numbers, scores) each."""
        per_layer = [self.views[layer].scores_many([queries[layer] for queries in batch], spec)[
            :, self.views[layer].live_slots.to(self.views[layer].device)] for layer in batch[0]]  # [B, N] each
        return [(self._order, torch.stack([scores[b] for scores in per_layer])) for b in range(len(batch))]

    def chunks(self, layer: int, numbers: Iterable[int]) -> MemoryRows:
        """Pooled K and V [C, G, D] of the documents, ascending (all rows of the fetched copy); one deleted
        since the snapshot is skipped."""
        start = time.perf_counter()
        kv = self.cache.get(self.ns, sorted(numbers), layer)
        view = self.views[layer]
        if not kv:
            keys = values = torch.zeros(0, device=view.device)  # no rows: nothing to read
        else:
            keys = torch.cat([kv[n][0] for n in sorted(kv)]).to(view.device, non_blocking=True)
            values = torch.cat([kv[n][1] for n in sorted(kv)]).to(view.device, non_blocking=True)
        self._timed("fetch", start)
        return MemoryRows.whole(keys, values)

    def documents(self, numbers: list[int]) -> dict[int, Document]:
        """Records (text, id, version) of documents by number, fetched once per question."""
        missing = [n for n in numbers if n not in self._docs]
        if missing:
            start = time.perf_counter()
            self._docs.update(self.store.by_ordinals(self.ns, missing))
            self._timed("fetch", start)
        return {n: self._docs[n] for n in numbers if n in self._docs}

    def __contains__(self, number: int) -> bool:
        """Still stored (a document deleted after the snapshot is not)."""
        return number in self.documents([number])

    def __getitem__(self, number: int) -> Document:
        return self.documents([number])[number]
