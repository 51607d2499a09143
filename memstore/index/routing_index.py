"""The routing index: per namespace, a slab of pooled routing keys on the device.

A slab is, per router layer, rows of routing keys [rows, G, D], and one row layout that all layers share (a
document has the same rows in every layer): the dense document slot of each row, a live mask and the ordinal
of each slot. So what a question derives from the layout (which rows a filter keeps, which slots are live) is
worked out once, not once per layer. Writes append rows; deletes and updates mark old rows dead (tombstones),
and the slab is compacted once dead rows pass `compact_ratio`. Every change publishes new immutable views
(`SlabView` per layer over one `RowLayout`): appends only touch rows past the views already handed out, so a
query holding views keeps one consistent state while writes go on. Slabs load from the store on first use and
are evicted least recently used when their bytes pass the device budget. A namespace that does not fit the
budget on its own is kept in (pinned) host memory instead and streamed through the device in blocks of rows at
every query: only the per-row chunk scores stay on the device.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from functools import cached_property

import torch
from torch import Tensor

from msa.kernels.route import RouteSpec, chunk_scores, doc_scores, route_scores_many
from msa.memstore.index.passing import Passing
from msa.memstore.storage.store import Store

CLEAN = RouteSpec()  # cosine, fp32: the store's scores
STREAM_ROWS = 1 << 16  # rows per block when a host-resident slab streams through the device


# A filter passing at most this share of the documents reads only its documents' rows. On a GPU gathering
# them costs a copy and a synchronisation per layer; against skipping rows in the kernel it was level at 100K
# documents and level to faster at 1M, within a large run-to-run spread (H200, 2026-12-02,
# bench/filter_latency.py; docs/benchmarks.md).
SUBSET_SHARE = {"cpu": 0.5, "cuda": 0.25}


@dataclass(frozen=True, eq=False)
class RowLayout:
    """One state of a namespace's rows, shared by the views of all its router layers (a document has the same
    rows in every layer, written and deleted together): the document slot of each row and which rows are live.
    What is derived from it is worked out once per state, for every layer; rows >= `rows` are not part of it."""

    row_slot: Tensor  # [capacity] int64: the document slot of each row
    live: Tensor  # [capacity] bool, this state's own copy
    slot_ordinal: Tensor  # [slots] int64: the ordinal of each slot
    by_ordinal: Tensor  # [slots] int64: slots sorted by ordinal (ties go to the lower ordinal)
    rows: int
    ordinal_bound: int  # above every ordinal of the namespace
    epoch: int
    device: torch.device  # where scores are computed

    @cached_property
    def alive(self) -> Tensor:
        """[slots] bool, where the rows are: slots that still have live rows (no host synchronisation)."""
        slots = torch.zeros(len(self.slot_ordinal), dtype=torch.bool, device=self.live.device)
        return slots.index_put_((self.row_slot[: self.rows],), self.live[: self.rows])  # a slot's rows agree

    @cached_property
    def dead_here(self) -> Tensor:
        """[slots] bool on `device`: slots without live rows."""
        return (~self.alive).to(self.device)

    @cached_property
    def owner(self) -> Tensor:
        """[rows] int64 on `device`: each row's slot (rows of dead slots are masked after scoring)."""
        return self.row_slot[: self.rows].to(self.device)

    @cached_property
    def live_slots(self) -> Tensor:
        """[N] int64: the slots of the live documents in ordinal order (slots themselves are in write order)."""
        return self.by_ordinal[self.alive[self.by_ordinal]]

    @cached_property
    def live_slots_here(self) -> Tensor:
        return self.live_slots.to(self.device)

    @cached_property
    def live_ordinals(self) -> Tensor:
        """[N] int64: the live documents' ordinals, ascending, where the rows are."""
        return self.slot_ordinal[self.live_slots]

    @cached_property
    def live_ordinals_host(self) -> Tensor:
        """`live_ordinals` on the host, copied once per state (where selections land)."""
        return self.live_ordinals.cpu()

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (self.row_slot, self.live, self.slot_ordinal))


@dataclass(frozen=True)
class SlabView:
    """One router layer of a namespace at one state: its keys and the namespace's shared row layout."""

    keys: Tensor  # [capacity, G, D], on `device` or, when `stream_rows`, in host memory
    layout: RowLayout
    stream_rows: int = 0  # > 0: keys live on the host and are scored this many rows at a time

    @property
    def slot_ordinal(self) -> Tensor:
        return self.layout.slot_ordinal

    @property
    def device(self) -> torch.device:
        return self.layout.device

    @property
    def rows(self) -> int:
        return self.layout.rows

    @property
    def epoch(self) -> int:
        return self.layout.epoch

    def alive(self) -> Tensor:
        """[slots] bool: slots that still have live rows (not deleted, not replaced by newer rows)."""
        return self.layout.alive

    @property
    def live_slots(self) -> Tensor:
        return self.layout.live_slots

    @property
    def live_ordinals(self) -> Tensor:
        return self.layout.live_ordinals

    def scores(self, q: Tensor, spec: RouteSpec = CLEAN) -> Tensor:
        """q [S, H, D] routing queries -> document scores per slot [slots] on `device`, -inf where not alive."""
        return self.scores_many([q], spec)[0]

    def scores_many(self, qs: list[Tensor], spec: RouteSpec = CLEAN) -> Tensor:
        """Several questions' routing queries (each [S_b, H, D]) -> document scores [B, slots] on `device`, -inf
        where not alive; the keys are read once for all of them."""
        scores = self.route(qs, spec, self.layout.owner, len(self.layout.slot_ordinal))
        return scores.masked_fill_(self.layout.dead_here, float("-inf"))  # scores is this call's own

    def route(self, qs: list[Tensor], spec: RouteSpec, owner: Tensor, documents: int) -> Tensor:
        """Questions' scores [B, documents] on `device`: every row's chunk scores maxed into its `owner` [rows]
        on `device` (-1: the row is skipped); -inf for a document without rows."""
        if self.rows == 0:
            return torch.full((len(qs), documents), float("-inf"), device=self.device)
        qs = [q.to(self.device) for q in qs]
        if not self.stream_rows:  # the document max inside the route kernel where it applies
            return route_scores_many(qs, self.keys[: self.rows], owner, documents, spec)
        parts = []
        for a in range(0, self.rows, self.stream_rows):  # one block on the device at a time
            block = self.keys[a:min(a + self.stream_rows, self.rows)].to(self.device, non_blocking=True)
            parts.append(torch.stack([chunk_scores(q, block, spec) for q in qs]))  # [B, block rows]
        chunk = torch.cat(parts, dim=1)
        return torch.stack([doc_scores(row, owner, documents, spec) for row in chunk])

    def scores_of(self, qs: list[Tensor], spec: RouteSpec = CLEAN, narrowing: Narrowing | None = None) -> Tensor:
        """Several questions' scores [B, N] of the live documents in ordinal order: all of them, or those a
        filter's `narrowing` keeps."""
        if narrowing is None:
            return self.scores_many(qs, spec)[:, self.layout.live_slots_here]
        return narrowing.scores(self, qs, spec)

    @property
    def nbytes(self) -> int:
        """The keys' bytes (the shared layout is counted once per namespace, by `Slab.nbytes`)."""
        return self.keys.numel() * self.keys.element_size()


class Narrowing:
    """A filter's documents among one state's live documents, worked out once (one host synchronisation) for
    all the layers a batch of questions routes over, which share one row layout. A filter passing every live
    document routes exactly as no filter does. Otherwise a layer scores every row, as without a filter, with
    the rows of other documents owned by none (skipped inside the route kernel), so a filter costs no pass of
    its own over the keys. When the filter's documents are few (`SUBSET_SHARE`), each layer reads only their
    rows instead, found once for all layers (one more synchronisation)."""

    def __init__(self, views: list[SlabView], allowed: Passing) -> None:
        layout = views[0].layout
        if any(v.layout is not layout for v in views):
            raise ValueError("a narrowing is for the layers of one state (views sharing one row layout)")
        self.layout = layout
        live = layout.live_ordinals  # [live] ascending
        self.keep = allowed.at(live).nonzero().squeeze(1)  # [N] places among the live documents
        self.everything = len(self.keep) == len(live)
        self.subset = False
        if self.everything:
            return
        rank = torch.full((layout.ordinal_bound,), -1, dtype=torch.int64, device=live.device)
        rank[live[self.keep]] = torch.arange(len(self.keep), device=live.device)  # a passing ordinal's place
        owner = rank[layout.slot_ordinal][layout.row_slot[: layout.rows]]  # [rows]: place among the N, or -1
        owner.masked_fill_(~layout.live[: layout.rows], -1)  # rows of replaced or deleted versions
        self.subset = not views[0].stream_rows and len(self.keep) <= SUBSET_SHARE[layout.device.type] * len(live)
        self.rows = (owner >= 0).nonzero().squeeze(1).to(layout.device) if self.subset else None  # [R]
        self.owner = (owner[self.rows.to(owner.device)] if self.subset else owner).to(layout.device)

    def scores(self, view: SlabView, qs: list[Tensor], spec: RouteSpec) -> Tensor:
        """One layer's scores [B, N] of the passing documents."""
        if self.everything:
            return view.scores_of(qs, spec)
        if not self.subset:
            return view.route(qs, spec, self.owner, len(self.keep))
        if not len(self.rows):
            return torch.full((len(qs), len(self.keep)), float("-inf"), device=view.device)
        keys = view.keys[self.rows]  # [R, G, D]
        return route_scores_many([q.to(view.device) for q in qs], keys, self.owner, len(self.keep), spec)

    def ordinals(self) -> Tensor:
        """The passing documents' ordinals [N] ascending: on the host when they are every live document (as
        without a filter), else where the rows are (copying them back would cost more than it saves)."""
        return self.layout.live_ordinals_host if self.everything else self.layout.live_ordinals[self.keep]


class SlabSnapshot(dict[int, SlabView]):
    """Every router layer of a namespace at one state on one device (`protocols.RoutingSnapshot`): a
    question gets the scores of every live document and picks its top k itself."""

    _narrowed: tuple[Passing, Narrowing] | None = None  # the last filter's narrowing (a question counts, then routes)

    @property
    def state(self) -> Hashable:
        # the same views are the same state; a question holds its snapshot while it routes, so ids stay unique
        return id(self._layout)

    @property
    def _layout(self) -> RowLayout:
        return next(iter(self.values())).layout

    def numbers(self) -> list[int]:
        return self._layout.live_ordinals_host.tolist()

    def narrowing(self, allowed: Passing) -> Narrowing:
        """`allowed` among this state's live documents, worked out once per filter."""
        cached = self._narrowed  # read once: a snapshot shared by threads never hands out another's narrowing
        if cached is None or cached[0] is not allowed:
            cached = allowed, Narrowing(list(self.values()), allowed)
            self._narrowed = cached
        return cached[1]

    def count(self, allowed: Passing | None = None) -> int:
        """Live documents, or those `allowed` passes."""
        if allowed is None:
            return len(self._layout.live_ordinals_host)
        return len(self.narrowing(allowed).keep)

    def select_many(self, batch: list[dict[int, Tensor]], spec: RouteSpec, k: int, allowed: Passing | None = None
                    ) -> list[tuple[Tensor, Tensor]]:
        """Each layer's keys read once for all questions -> per question (ordinals [N] ascending, scores [L, N])
        of every live document, or of those `allowed` passes only; `k` is the caller's to apply. Ordinals are
        on the host, a narrow filter's on the device (`Narrowing.ordinals`)."""
        views = [self[layer] for layer in batch[0]]
        narrowing = None if allowed is None else self.narrowing(allowed)
        order = self._layout.live_ordinals_host if narrowing is None else narrowing.ordinals()
        per_layer = [view.scores_of([queries[layer] for queries in batch], spec, narrowing)
                     for layer, view in zip(batch[0], views, strict=True)]  # [B, N] each, in ordinal order
        return [(order, torch.stack([scores[b] for scores in per_layer])) for b in range(len(batch))]


def by_document(per_layer: dict[int, list[tuple[int, Tensor]]]) -> list[tuple[int, dict[int, Tensor]]]:
    """Rows as the store lists them (per layer, (ordinal, keys) in ordinal order) -> per document, every layer."""
    layers = list(per_layer)
    if not layers:
        return []
    ordinals = [o for o, _ in per_layer[layers[0]]]
    for layer in layers[1:]:
        if [o for o, _ in per_layer[layer]] != ordinals:
            raise ValueError(f"router layers {layers[0]} and {layer} hold different documents")
    return [(o, {layer: per_layer[layer][i][1] for layer in layers}) for i, o in enumerate(ordinals)]


class Slab:
    """The mutable side of one namespace's routing keys: a row layout shared by its router layers (a document
    has the same rows in each) and each layer's keys. Callers serialise changes (the index lock)."""

    def __init__(self, device: torch.device, dtype: torch.dtype, compact_ratio: float, layers: list[int],
                 stream_rows: int = 0, capacity: int = 0) -> None:
        """`capacity`: rows to make room for at the first write (a bulk load in parts grows no buffer)."""
        self.device, self.dtype, self.compact_ratio = device, dtype, compact_ratio
        self.layers, self.stream_rows, self.capacity = list(layers), stream_rows, capacity
        self.keys = {layer: self._buffer(torch.empty(0, 1, 1, dtype=dtype)) for layer in self.layers}  # [rows, G, D]
        self.row_slot = self._buffer(torch.empty(0, dtype=torch.int64))
        self.live = self._buffer(torch.empty(0, dtype=torch.bool))
        self.rows = 0
        self.slot_ordinal: list[int] = []
        self.ordinal_bound = 0  # above every ordinal added so far
        self.span: dict[int, tuple[int, int]] = {}  # ordinal -> its live rows [start, end)
        self.dead = 0
        self.epoch = 0
        self.views = self._publish()

    @property
    def storage(self) -> torch.device:
        """Where the rows live: the device, or the host for a streamed slab."""
        return torch.device("cpu") if self.stream_rows else self.device

    def _buffer(self, t: Tensor) -> Tensor:
        """t on the storage, pinned when it is the host of a GPU (so blocks copy asynchronously)."""
        t = t.to(self.storage)
        if self.stream_rows and self.device.type == "cuda" and not t.is_pinned():
            t = t.pin_memory()
        return t

    def apply(self, added: list[tuple[int, dict[int, Tensor]]], removed: list[int]) -> None:
        """Remove ordinals (absent ones ignored), then add (ordinal, {layer: keys [C, G, D]}) — an ordinal
        already present is replaced — and publish one new state for the whole change."""
        self._check(added)
        live, spans, dead = self.live.clone(), dict(self.span), self.dead  # committed only once all is written
        for ordinal in [*removed, *(o for o, _ in added)]:
            span = spans.pop(ordinal, None)
            if span is not None:
                live[span[0]:span[1]] = False
                dead += span[1] - span[0]
        counts = [next(iter(per_layer.values())).shape[0] for _, per_layer in added]
        need = self.rows + sum(counts)
        if need > self.row_slot.shape[0]:
            live = self._grow(need, live, {layer: k.shape[1:] for layer, k in added[0][1].items()})
        if added:  # one copy to the device per buffer for the whole change, not one per document
            first, slots = self.rows, len(self.slot_ordinal)
            for layer in self.layers if need > first else ():
                self.keys[layer][first:need] = torch.cat([p[layer] for _, p in added]).to(self.storage, self.dtype)
            self.row_slot[first:need] = torch.repeat_interleave(torch.arange(slots, slots + len(added)),
                                                                torch.tensor(counts))
            live[first:need] = True
        self.span, self.dead = spans, dead
        for (ordinal, _), count in zip(added, counts, strict=True):
            self.slot_ordinal.append(ordinal)
            self.ordinal_bound = max(self.ordinal_bound, ordinal + 1)
            self.span[ordinal] = (self.rows, self.rows + count)
            self.rows += count
        self.live = self._buffer(live)
        if self.dead > self.compact_ratio * max(1, self.rows):
            self._compact()
        self.views = self._publish()

    def _check(self, added: list[tuple[int, dict[int, Tensor]]]) -> None:
        """Refuse a change before any of it is made: every layer's keys [C, G, D], the same C in every layer,
        and each layer's [G, D] that of its rows so far."""
        shapes = {layer: keys.shape[1:] for layer, keys in self.keys.items() if self.rows}
        for ordinal, per_layer in added:
            counts = {k.shape[0] for k in per_layer.values()}
            if set(per_layer) != set(self.layers) or len(counts) != 1:
                raise ValueError(f"document {ordinal}: every router layer {self.layers} needs the same number of "
                                 f"rows, got {({layer: k.shape[0] for layer, k in per_layer.items()})}")
            for layer, keys in per_layer.items():
                if keys.ndim != 3:
                    raise ValueError(f"document {ordinal}: layer {layer}'s keys are {tuple(keys.shape)}, expected "
                                     "[rows, heads, dim]")
                if keys.shape[1:] != shapes.setdefault(layer, keys.shape[1:]):
                    raise ValueError(f"document {ordinal}: layer {layer}'s keys are {tuple(keys.shape)}, expected "
                                     f"[rows, {', '.join(map(str, shapes[layer]))}]")

    def _grow(self, need: int, live: Tensor, row_shapes: dict[int, torch.Size]) -> Tensor:
        """New, larger buffers (views already handed out keep the old ones)."""
        cap = max(need, 2 * self.row_slot.shape[0], 64, self.capacity)
        for layer in self.layers:
            keys = self._buffer(torch.empty(cap, *row_shapes[layer], dtype=self.dtype, device=self.storage))
            if self.rows:  # an empty slab takes the new rows' shape (after everything was deleted, any)
                keys[: self.rows] = self.keys[layer][: self.rows]
            self.keys[layer] = keys
        row_slot = self._buffer(torch.zeros(cap, dtype=torch.int64, device=self.storage))
        row_slot[: self.rows] = self.row_slot[: self.rows]
        self.row_slot = row_slot
        grown = torch.zeros(cap, dtype=torch.bool, device=self.storage)
        grown[: self.rows] = live[: self.rows]
        return grown

    def _compact(self) -> None:
        """Keep live rows only, documents renumbered densely in ordinal order, in fresh buffers."""
        order = sorted(self.span)
        spans = [self.span[o] for o in order]
        counts = [b - a for a, b in spans]
        kept = torch.cat([torch.arange(a, b) for a, b in spans]) if spans else torch.empty(0, dtype=torch.int64)
        for layer in self.layers:
            self.keys[layer] = self._buffer(self.keys[layer][kept.to(self.keys[layer].device)])
        self.rows = len(kept)
        self.row_slot = self._buffer(torch.repeat_interleave(torch.arange(len(order)),
                                                             torch.tensor(counts, dtype=torch.int64)))
        self.live = self._buffer(torch.ones(self.rows, dtype=torch.bool))
        self.slot_ordinal = order
        bounds = torch.tensor([0, *counts]).cumsum(0).tolist()
        self.span = {o: (bounds[i], bounds[i + 1]) for i, o in enumerate(order)}
        self.dead = 0

    def _publish(self) -> dict[int, SlabView]:
        self.epoch += 1
        ordinals = torch.tensor(self.slot_ordinal, dtype=torch.int64, device=self.storage)
        layout = RowLayout(self.row_slot, self.live, ordinals, torch.argsort(ordinals, stable=True), self.rows,
                           self.ordinal_bound, self.epoch, self.device)
        return {layer: SlabView(self.keys[layer], layout, self.stream_rows) for layer in self.layers}

    @property
    def nbytes(self) -> int:
        """Bytes held: every layer's keys and the shared layout once."""
        views = list(self.views.values())
        return sum(v.nbytes for v in views) + (views[0].layout.nbytes if views else 0)

    @property
    def key_bytes(self) -> int:
        """Routing-key bytes of every layer, rows not yet compacted away included."""
        return sum(self.rows * keys[:1].nbytes for keys in self.keys.values())


CPU_BUDGET = 8 << 30  # routing-key bytes a CPU index holds before streaming, when no budget is given
GPU_RESERVE_SHARE = 0.3  # of a GPU's memory kept free of routing keys by default: prefills, decoding graphs and
#                          batches (up to 1/16 of the device each, two of each kept), kernels' scratch


def default_budget(device: torch.device) -> int:
    """The routing keys' device budget when none is given: on a GPU what is free now (after the model) less a
    reserve for the model's own work, so a large namespace is resident where it fits rather than streamed
    through a fixed 8 GiB; on a CPU `CPU_BUDGET`."""
    if device.type != "cuda":
        return CPU_BUDGET
    free, total = torch.cuda.mem_get_info(device)
    return max(0, free - int(GPU_RESERVE_SHARE * total))


class RoutingIndex:
    """Slabs of one store, a namespace's layers together: loaded on first use in one read transaction
    (so its layers agree), patched after every committed change, evicted least recently used. A namespace
    whose keys alone pass the device budget is kept in host memory and streamed (`streamed`); host-held
    namespaces have their own budget."""

    def __init__(self, store: Store, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32,
                 budget_bytes: int = 8 << 30, host_budget_bytes: int = 32 << 30, compact_ratio: float = 0.25,
                 stream_rows: int = STREAM_ROWS) -> None:
        self.store, self.device, self.dtype = store, torch.device(device), dtype
        self.budget, self.host_budget = budget_bytes, host_budget_bytes
        self.compact_ratio, self.stream_rows = compact_ratio, stream_rows
        self.spaces: OrderedDict[str, Slab] = OrderedDict()  # least recently used first
        self.lock = threading.RLock()
        self.failure: str | None = None  # one device does not fail apart from the process

    def snapshot(self, ns: str) -> SlabSnapshot:
        """Views of every router layer of a namespace, taken together (one consistent state)."""
        with self.lock:
            if ns in self.spaces and self._misplaced(ns):
                del self.spaces[ns]  # reloaded below where it now belongs
            if ns not in self.spaces:
                self.spaces[ns] = self._load(ns)
            self.spaces.move_to_end(ns)
            self._evict(keep=ns)
            return SlabSnapshot(self.spaces[ns].views)

    def patch(self, ns: str, added: dict[int, dict[int, Tensor]], removed: list[int]) -> None:
        """After a commit: `added` maps ordinal -> {layer: routing keys}. Only a loaded namespace is
        patched (the others read the committed state when they load); replacing is idempotent, so a
        load that already saw the commit stays right."""
        with self.lock:
            if ns in self.spaces:
                try:
                    self.spaces[ns].apply(list(added.items()), removed)
                except Exception:
                    del self.spaces[ns]  # reloaded from the committed store at its next question
                    raise
            self._evict()

    def drop(self, ns: str) -> None:
        with self.lock:
            self.spaces.pop(ns, None)

    def check(self) -> bool:
        return True

    def close(self) -> None:
        """Nothing to release beyond memory (a sharded index stops its ranks)."""

    def streamed(self, ns: str) -> bool:
        """Whether a loaded namespace is scored from host memory."""
        return ns in self.spaces and bool(self.spaces[ns].stream_rows)

    @property
    def resident_bytes(self) -> int:
        """Bytes held on the device."""
        return sum(self._bytes(ns) for ns in self.spaces if not self.streamed(ns))

    @property
    def host_bytes(self) -> int:
        """Bytes of streamed namespaces, held in host memory."""
        return sum(self._bytes(ns) for ns in self.spaces if self.streamed(ns))

    def _bytes(self, ns: str) -> int:
        return self.spaces[ns].nbytes

    def key_bytes(self, ns: str) -> int:
        """Routing-key bytes of a loaded namespace, rows not yet compacted away included."""
        return self.spaces[ns].key_bytes

    def _misplaced(self, ns: str) -> bool:
        """On the device but grown past the budget, or streamed but shrunk to half of it (a margin, so a
        namespace near the budget does not move back and forth)."""
        if self.streamed(ns):
            return self.key_bytes(ns) <= self.budget // 2
        return self.key_bytes(ns) > self.budget

    def _load(self, ns: str) -> Slab:
        per_layer = self.store.namespace_routing_keys(ns)
        size = self.dtype.itemsize * sum(t.numel() for rows in per_layer.values() for _, t in rows)
        stream = self.stream_rows if size > self.budget else 0
        slab = Slab(self.device, self.dtype, self.compact_ratio, list(per_layer), stream)
        documents = by_document(per_layer)
        if documents:
            slab.apply(documents, [])
        return slab

    def _evict(self, keep: str | None = None) -> None:
        """Least recently used namespaces out until the device and the host budgets hold (never `keep`)."""
        for streamed, budget in ((False, self.budget), (True, self.host_budget)):
            while True:
                pool = [ns for ns in self.spaces if self.streamed(ns) == streamed]
                victims = [ns for ns in pool if ns != keep]
                if not victims or sum(self._bytes(ns) for ns in pool) <= budget:
                    break
                del self.spaces[victims[0]]
