"""A namespace as the model reads it: `msa.model.memory.ReadableMemory` (route, chunks, documents by
number) over a routing-index snapshot, the content K/V cache and the store, optionally narrowed by a filter
to some documents: the others are never scored, read or cited."""

from __future__ import annotations

import time
from collections.abc import Iterable

import torch
from torch import Tensor

from msa.kernels.route import RouteSpec
from msa.kernels.sparse_attn import MemoryRows
from msa.memstore.index.content_cache import ContentCache
from msa.memstore.index.passing import Passing
from msa.memstore.index.protocols import RoutingSnapshot
from msa.memstore.storage.filters import NO_FILTER, DocumentFilter
from msa.memstore.storage.records import Document
from msa.memstore.storage.store import Store
from msa.model.call_batcher import CallBatcher


class StoreMemory:
    """Document numbers are ordinals. Routing uses the snapshot's views only, so one question sees one
    state of the index even while writes go on. With a filter, `allowed` holds the documents it passed when
    the question began; a document's text is read only if it still passes then (it may have changed since)."""

    def __init__(self, ns: str, views: RoutingSnapshot, cache: ContentCache, store: Store,
                 batcher: CallBatcher, flt: DocumentFilter = NO_FILTER, allowed: Passing | None = None) -> None:
        self.ns, self.views, self.cache, self.store, self.batcher = ns, views, cache, store, batcher
        self.flt, self.allowed = flt, allowed
        self._passes: dict[int, bool] = {}  # the filter's verdict on numbers looked up so far
        self._size: int | None = None
        self._docs: dict[int, Document] = {}
        self.spent = {"route": 0.0, "fetch": 0.0}  # seconds in routing and in fetching K/V or text

    def _timed(self, kind: str, start: float) -> None:
        self.spent[kind] += time.perf_counter() - start

    def __len__(self) -> int:
        """Documents a question can read (counted once, without listing them)."""
        if self._size is None:
            self._size = self.views.count(self.allowed)
        return self._size

    def route(self, queries: dict[int, Tensor], spec: RouteSpec, k: int) -> tuple[Tensor, Tensor]:
        """{layer: q [S, H, D]} -> (numbers [C], scores [L, C]) as `Memory.route`: every live document from a
        single-device index; a sharded one answers its candidates for the top k, all layers in one round.
        Questions routed at the same time over the same state go together (`CallBatcher`)."""
        start = time.perf_counter()
        narrowed = None if self.allowed is None else id(self)  # a filtered question routes on its own
        out = self.batcher.run((self.views.state, tuple(queries), spec, k, narrowed), queries,
                               lambda batch: self.views.select_many(batch, spec, k, self.allowed))
        self._timed("route", start)
        return out

    def chunks(self, layer: int, numbers: Iterable[int]) -> MemoryRows:
        """Pooled K and V [C, G, D] of the documents, ascending (all rows of the fetched copy); one deleted
        since the snapshot is skipped."""
        start = time.perf_counter()
        kv = self.cache.get(self.ns, sorted(self._visible(numbers)), layer)
        view = self.views[layer]
        if not kv:
            keys = values = torch.zeros(0, device=view.device)  # no rows: nothing to read
        else:
            keys, values = (_to_device([kv[n][i] for n in sorted(kv)], view.device) for i in (0, 1))
        self._timed("fetch", start)
        return MemoryRows.whole(keys, values)

    def documents(self, numbers: list[int]) -> dict[int, Document]:
        """Records (text, id, version) of documents by number, fetched once per question."""
        numbers = self._visible(numbers)
        missing = [n for n in numbers if n not in self._docs]
        if missing:
            start = time.perf_counter()
            found = self.store.by_ordinals(self.ns, missing)
            self._docs.update({n: d for n, d in found.items() if self.flt.matches(d)})
            self._timed("fetch", start)
        return {n: self._docs[n] for n in numbers if n in self._docs}

    def _visible(self, numbers: Iterable[int]) -> list[int]:
        """The numbers the filter passed (all without one): a number the model names is never read otherwise."""
        numbers = list(numbers)
        if self.allowed is None or not numbers:
            return numbers
        unknown = sorted({n for n in numbers if n not in self._passes})
        if unknown:  # one small lookup for numbers not seen yet (a question reads the same few in every layer)
            found = self.allowed.at(torch.tensor(unknown, dtype=torch.int64))
            self._passes.update(zip(unknown, found.tolist(), strict=True))
        return [n for n in numbers if self._passes[n]]

    def __contains__(self, number: int) -> bool:
        """Still stored (a document deleted after the snapshot is not)."""
        return number in self.documents([number])

    def __getitem__(self, number: int) -> Document:
        return self.documents([number])[number]


def _to_device(parts: list[Tensor], device: torch.device) -> Tensor:
    """Host tensors -> their concatenation on `device`. For a GPU they are gathered into pinned memory from
    PyTorch's caching host allocator (reused once its copy is done) and copied without blocking: a pageable
    copy stalls the host for every layer, and pinning each cached blob on its own cost a `cudaHostAlloc` each."""
    if torch.device(device).type != "cuda":
        return torch.cat(parts).to(device)
    rows = sum(p.shape[0] for p in parts)
    staged = torch.empty((rows, *parts[0].shape[1:]), dtype=parts[0].dtype, pin_memory=True)
    return torch.cat(parts, out=staged).to(device, non_blocking=True)
