"""The routing index: per namespace and router layer, a slab of pooled routing keys on the device.

A slab is rows of routing keys [rows, G, D], the dense document slot of each row, a live mask and the
ordinal of each slot. Writes append rows; deletes and updates mark old rows dead (tombstones), and the
slab is compacted once dead rows pass `compact_ratio`. Every change publishes a new immutable
`SlabView`: appends only touch rows past the views already handed out, so a query holding views keeps
one consistent state while writes go on. Slabs load from the store on first use and are evicted least
recently used (a namespace's layers together) when their bytes pass the device budget.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import torch
from torch import Tensor

from msa.kernels.route import RouteSpec, route_scores, top_k
from msa.memstore.store import Store

CLEAN = RouteSpec()  # cosine, fp32: the store's scores


@dataclass(frozen=True)
class SlabView:
    """One consistent state of a slab; rows >= `rows` are not part of it."""

    keys: Tensor  # [capacity, G, D]
    row_slot: Tensor  # [capacity] int64: the document slot of each row
    live: Tensor  # [capacity] bool, this view's own copy
    slot_ordinal: Tensor  # [slots] int64: the ordinal of each slot
    by_ordinal: Tensor  # [slots] int64: slots sorted by ordinal (ties go to the lower ordinal)
    rows: int
    epoch: int

    def alive(self) -> Tensor:
        """[slots] bool: slots that still have live rows (not deleted, not replaced by newer rows)."""
        slots = torch.zeros(len(self.slot_ordinal), dtype=torch.bool, device=self.keys.device)
        return slots.index_fill_(0, self.row_slot[: self.rows][self.live[: self.rows]], True)

    def scores(self, q: Tensor, spec: RouteSpec = CLEAN) -> Tensor:
        """q [S, H, D] routing queries -> document scores per slot [slots], -inf where not alive."""
        slots = len(self.slot_ordinal)
        if self.rows == 0:
            return torch.full((slots,), float("-inf"), device=self.keys.device)
        scores = route_scores(q.to(self.keys.device), self.keys[: self.rows], self.row_slot[: self.rows], slots, spec)
        return torch.where(self.alive(), scores, torch.full_like(scores, float("-inf")))

    def topk(self, q: Tensor, k: int, spec: RouteSpec = CLEAN) -> tuple[list[int], list[float]]:
        """q [S, H, D] routing queries -> (ordinals, scores) of the best k live documents."""
        if self.rows == 0:
            return [], []
        idx, vals = top_k(self.scores(q, spec)[self.by_ordinal], k)
        return self.slot_ordinal[self.by_ordinal[idx]].tolist(), vals.float().tolist()

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (self.keys, self.row_slot, self.live, self.slot_ordinal))


class Slab:
    """The mutable side of one (namespace, layer) slab. Callers serialise changes (the index lock)."""

    def __init__(self, device: torch.device, dtype: torch.dtype, compact_ratio: float) -> None:
        self.device, self.dtype, self.compact_ratio = device, dtype, compact_ratio
        self.keys = torch.empty(0, 1, 1, device=device, dtype=dtype)  # [rows, G, D] once keys arrive
        self.row_slot = torch.empty(0, dtype=torch.int64, device=device)
        self.live = torch.empty(0, dtype=torch.bool, device=device)
        self.rows = 0
        self.slot_ordinal: list[int] = []
        self.span: dict[int, tuple[int, int]] = {}  # ordinal -> its live rows [start, end)
        self.dead = 0
        self.epoch = 0
        self.view = self._publish()

    def apply(self, added: list[tuple[int, Tensor]], removed: list[int]) -> None:
        """Remove ordinals (absent ones ignored), then add (ordinal, keys [C, G, D]) — an ordinal already
        present is replaced — and publish one new view for the whole change."""
        live = self.live.clone()
        for ordinal in [*removed, *(o for o, _ in added)]:
            span = self.span.pop(ordinal, None)
            if span is not None:
                live[span[0]:span[1]] = False
                self.dead += span[1] - span[0]
        need = self.rows + sum(k.shape[0] for _, k in added)
        if need > self.keys.shape[0]:
            live = self._grow(need, live, added[0][1].shape[1:])
        for ordinal, keys in added:
            start, end = self.rows, self.rows + keys.shape[0]
            self.keys[start:end] = keys.to(self.device, self.dtype)
            self.row_slot[start:end] = len(self.slot_ordinal)
            live[start:end] = True
            self.slot_ordinal.append(ordinal)
            self.span[ordinal] = (start, end)
            self.rows = end
        self.live = live
        if self.dead > self.compact_ratio * max(1, self.rows):
            self._compact()
        self.view = self._publish()

    def _grow(self, need: int, live: Tensor, row_shape: torch.Size) -> Tensor:
        """New, larger buffers (views already handed out keep the old ones)."""
        cap = max(need, 2 * self.keys.shape[0], 64)
        keys = torch.empty(cap, *row_shape, device=self.device, dtype=self.dtype)
        keys[: self.rows] = self.keys[: self.rows]
        row_slot = torch.zeros(cap, dtype=torch.int64, device=self.device)
        row_slot[: self.rows] = self.row_slot[: self.rows]
        grown = torch.zeros(cap, dtype=torch.bool, device=self.device)
        grown[: self.rows] = live[: self.rows]
        self.keys, self.row_slot = keys, row_slot
        return grown

    def _compact(self) -> None:
        """Keep live rows only, documents renumbered densely in ordinal order, in fresh buffers."""
        order = sorted(self.span)
        parts = [self.keys[a:b] for a, b in (self.span[o] for o in order)]
        counts = [b - a for a, b in (self.span[o] for o in order)]
        self.keys = torch.cat(parts) if parts else self.keys[:0].clone()
        self.rows = self.keys.shape[0]
        self.row_slot = torch.repeat_interleave(torch.arange(len(order), device=self.device),
                                                torch.tensor(counts, dtype=torch.int64, device=self.device))
        self.live = torch.ones(self.rows, dtype=torch.bool, device=self.device)
        self.slot_ordinal = order
        bounds = torch.tensor([0, *counts]).cumsum(0).tolist()
        self.span = {o: (bounds[i], bounds[i + 1]) for i, o in enumerate(order)}
        self.dead = 0

    def _publish(self) -> SlabView:
        self.epoch += 1
        ordinals = torch.tensor(self.slot_ordinal, dtype=torch.int64, device=self.device)
        return SlabView(self.keys, self.row_slot, self.live, ordinals, torch.argsort(ordinals, stable=True),
                        self.rows, self.epoch)


class RoutingIndex:
    """Slabs of one store, a namespace's layers together: loaded on first use in one read transaction
    (so its layers agree), patched after every committed change, evicted least recently used."""

    def __init__(self, store: Store, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32,
                 budget_bytes: int = 8 << 30, compact_ratio: float = 0.25) -> None:
        self.store, self.device, self.dtype = store, torch.device(device), dtype
        self.budget, self.compact_ratio = budget_bytes, compact_ratio
        self.spaces: OrderedDict[str, dict[int, Slab]] = OrderedDict()  # least recently used first
        self.lock = threading.RLock()

    def snapshot(self, ns: str) -> dict[int, SlabView]:
        """Views of every router layer of a namespace, taken together (one consistent state)."""
        with self.lock:
            if ns not in self.spaces:
                self.spaces[ns] = self._load(ns)
            self.spaces.move_to_end(ns)
            self._evict(keep=ns)
            return {layer: slab.view for layer, slab in self.spaces[ns].items()}

    def view(self, ns: str, layer: int) -> SlabView:
        return self.snapshot(ns)[layer]

    def topk(self, ns: str, layer: int, q: Tensor, k: int) -> tuple[list[int], list[float]]:
        return self.view(ns, layer).topk(q, k)

    def patch(self, ns: str, added: dict[int, dict[int, Tensor]], removed: list[int]) -> None:
        """After a commit: `added` maps ordinal -> {layer: routing keys}. Only a loaded namespace is
        patched (the others read the committed state when they load); replacing is idempotent, so a
        load that already saw the commit stays right."""
        with self.lock:
            for layer, slab in self.spaces.get(ns, {}).items():
                slab.apply([(o, per_layer[layer]) for o, per_layer in added.items()], removed)
            self._evict()

    def drop(self, ns: str) -> None:
        with self.lock:
            self.spaces.pop(ns, None)

    @property
    def resident_bytes(self) -> int:
        return sum(s.view.nbytes for slabs in self.spaces.values() for s in slabs.values())

    def _load(self, ns: str) -> dict[int, Slab]:
        slabs = {}
        for layer, rows in self.store.namespace_routing_keys(ns).items():
            slabs[layer] = Slab(self.device, self.dtype, self.compact_ratio)
            if rows:
                slabs[layer].apply(rows, [])
        return slabs

    def _evict(self, keep: str | None = None) -> None:
        while self.resident_bytes > self.budget and len(self.spaces) > 1:
            oldest = next(iter(self.spaces))
            if oldest == keep:
                break
            del self.spaces[oldest]
