"""Memory Parallel: a namespace's routing index sharded over the ranks of one `torch.distributed` job.

Every rank holds a disjoint set of documents — their routing-key slabs of every router layer — and scores
them with `msa.kernels.route`; rank 0 (the serving rank: the model, the store, the gRPC server) drives the
others with one message per rank per round, broadcast in the order it issues them, so all ranks apply the same
patches in the same order. Assignment rule: a document goes, in ordinal order, to the rank holding the
fewest routing-key bytes so far (ties: the lower rank); an update stays on its rank. On load the rule
runs over the committed documents, so a restart balances afresh. Rank 0 reads LMDB and scatters each rank
its shard (ranks on other machines need no store). Each patch opens a new epoch of a namespace on every
rank; a snapshot names its epoch and every rank scores the views of that epoch, so a question sees one
state while writes go on. A routing query is one round of tensors (`shard_messages.exchange`): every rank
sends back only its candidates for the top k (`selection.candidates`), whose merge is exactly the
single-device top k of every layer and of the layers' mean and max. A rank that dies or passes the timeout
fails the round: the index turns unhealthy and every call answers UNAVAILABLE — never a partial ranking —
until a restart reloads it.

This module is rank 0's side, the index over all ranks; the rank side is `shard_server`, the messages
between them `shard_messages`, the maths `selection`, and starting the ranks `parallel`.
"""

from __future__ import annotations

import contextlib
import subprocess
import threading
from collections.abc import Hashable

import torch
import torch.distributed as dist
from torch import Tensor

from msa.kernels.route import RouteSpec
from msa.memstore.errors import Unavailable
from msa.memstore.index.passing import Passing
from msa.memstore.index.selection import assign, merge
from msa.memstore.index.shard_messages import (
    CountBytes,
    Drop,
    Learn,
    Load,
    Message,
    Patch,
    Ping,
    RankError,
    Select,
    Stop,
    exchange,
)
from msa.memstore.index.shard_server import ShardServer
from msa.memstore.storage.store import Store


class ShardedView:
    """A router layer of a namespace as one snapshot sees it, over all ranks: what `StoreMemory` reads of a
    `SlabView` (slots = the snapshot's live documents in ordinal order)."""

    def __init__(self, ns: str, epoch: int, ordinals: Tensor, device: torch.device) -> None:
        self.ns, self.epoch, self.device = ns, epoch, device
        self.slot_ordinal = ordinals  # [slots] sorted

    def alive(self) -> Tensor:
        return torch.ones(len(self.slot_ordinal), dtype=torch.bool)


class ShardedSnapshot(dict[int, ShardedView]):
    """Every router layer of a namespace at one epoch over all ranks (`protocols.RoutingSnapshot`): the
    ranks answer their candidates for the top k, all layers in one round."""

    def __init__(self, index: ShardedRoutingIndex, ns: str, epoch: int, views: dict[int, ShardedView]) -> None:
        super().__init__(views)
        self.index, self.ns, self.epoch = index, ns, epoch

    @property
    def state(self) -> Hashable:
        return self.ns, self.epoch

    def numbers(self) -> list[int]:
        return next(iter(self.values())).slot_ordinal.tolist()

    def count(self, allowed: Passing | None = None) -> int:
        ordinals = next(iter(self.values())).slot_ordinal  # [N] ascending, on the host
        if allowed is None:
            return len(ordinals)
        return int(allowed.at(ordinals).sum())

    def select(self, queries: dict[int, Tensor], spec: RouteSpec, k: int) -> tuple[Tensor, Tensor]:
        """Router layers' queries {layer: [S, H, D]} of this snapshot in one round -> the ranks' candidates
        for the top k (`candidates`): (ordinals [C] ascending, scores [L, C]) on the host."""
        return self.select_many([queries], spec, k)[0]

    def select_many(self, batch: list[dict[int, Tensor]], spec: RouteSpec, k: int, allowed: Passing | None = None
                    ) -> list[tuple[Tensor, Tensor]]:
        """Several questions' queries (the same layers) in one round: every rank reads its keys once for all,
        scoring only the documents `allowed` passes when given (sent to the ranks as their ordinals)."""
        layers = tuple(batch[0])
        if not self.count(allowed):
            return [(torch.zeros(0, dtype=torch.int64), torch.zeros(len(layers), 0)) for _ in batch]
        tokens = tuple(queries[layers[0]].shape[0] for queries in batch)
        first = batch[0][layers[0]]
        q = first.new_zeros(len(batch), len(layers), max(tokens), *first.shape[1:])  # [B, L, S, H, D]
        for b, queries in enumerate(batch):
            q[b, :, : tokens[b]] = torch.stack([queries[layer] for layer in layers])
        replies = self.index.round(Select(self.index.term(self.ns), self.epoch, layers, q, tokens,
                                          self.index.term(spec), k,
                                          None if allowed is None else allowed.ordinals()))
        return [merge([(o[b], v[b]) for o, v in replies]) for b in range(len(batch))]


class ShardedRoutingIndex:
    """Rank 0's routing index over all ranks: the interface of `RoutingIndex` (snapshot, patch, drop, ...)
    with every slab held by its owner rank. Commands go out in one order under one lock."""

    def __init__(self, store: Store, server: ShardServer, world: int, device: str | torch.device = "cpu",
                 processes: list[subprocess.Popen] = ()) -> None:
        self.store, self.server, self.world, self.processes = store, server, world, list(processes)
        self.device = torch.device(device)
        self.lock = threading.RLock()
        self.loaded: dict[str, dict[int, int]] = {}  # ns -> ordinal -> owner rank
        self.loads: dict[str, list[int]] = {}  # ns -> routing-key elements per rank
        self.sizes: dict[str, dict[int, int]] = {}  # ns -> ordinal -> its routing-key elements
        self.epoch: dict[str, int] = {}
        self.terms: dict[Hashable, int] = {}  # namespace names and RouteSpecs the ranks know, by id
        self.failure: str | None = None

    def round(self, messages: Message | list[Message]) -> list:
        """Send one message to every rank (or a list: rank r gets messages[r]) and return each rank's reply.
        Any failure (a rank gone, the timeout) leaves the index unhealthy."""
        with self.lock:
            if self.failure is not None:
                raise Unavailable(f"the routing index is down ({self.failure}); restart the server")
            messages = messages if isinstance(messages, list) else [messages] * self.world
            try:
                replies = exchange(self.server.handle, messages)[1]
            except Exception as e:
                self.failure = f"{type(e).__name__}: {e}".splitlines()[0][:300]
                dist.destroy_process_group()  # the group is broken; leaving it up aborts the process at exit
                raise Unavailable(f"a shard rank failed ({self.failure}); restart the server") from e
            errors = [f"rank {r}: {e.message}" for r, e in enumerate(replies) if isinstance(e, RankError)]
            if errors:
                if not isinstance(messages[0], Select):  # a change applied on some ranks only: stop serving
                    self.failure = errors[0]
                raise Unavailable(f"routing failed on {', '.join(errors)}")
            return replies

    def term(self, term: Hashable) -> int:
        """The id routing queries name a namespace or a spec by (taught to every rank on first use)."""
        with self.lock:
            if term not in self.terms:
                self.round(Learn(len(self.terms), term))
                self.terms[term] = len(self.terms)
            return self.terms[term]

    def check(self) -> bool:
        """A heartbeat round (a rank that died or hangs fails it) -> healthy."""
        with contextlib.suppress(Unavailable):
            self.round(Ping())
        return self.failure is None

    def snapshot(self, ns: str) -> ShardedSnapshot:
        """Views of every router layer of a namespace at its current epoch."""
        with self.lock:
            if ns not in self.loaded:
                self._load(ns)
            ordinals = torch.tensor(sorted(self.loaded[ns]), dtype=torch.int64)
            epoch = self.epoch[ns]
            return ShardedSnapshot(self, ns, epoch, {layer: ShardedView(ns, epoch, ordinals, self.device)
                                                     for layer in self.store.layers})

    def _load(self, ns: str) -> None:
        per_layer = self.store.namespace_routing_keys(ns)
        sizes: dict[int, int] = {}
        for rows in per_layer.values():
            for ordinal, keys in rows:
                sizes[ordinal] = sizes.get(ordinal, 0) + keys.numel()
        loads = [0] * self.world
        owner = assign(sorted(sizes.items()), self.world, loads)
        shards = [{layer: [(o, k) for o, k in rows if owner[o] == r] for layer, rows in per_layer.items()}
                  for r in range(self.world)]
        epoch = self.epoch.get(ns, 0) + 1
        self.round([Load(ns, epoch, self.store.layers, rows) for rows in shards])
        self.loaded[ns], self.loads[ns], self.sizes[ns], self.epoch[ns] = owner, loads, sizes, epoch

    def patch(self, ns: str, added: dict[int, dict[int, Tensor]], removed: list[int]) -> None:
        """After a commit: new or replaced documents to their owners, removed ones off theirs (a loaded
        namespace only, as the single-device index)."""
        with self.lock:
            owner = self.loaded.get(ns)
            if owner is None:
                return
            loads, sizes = self.loads[ns], self.sizes[ns]
            for ordinal in removed:
                if ordinal in owner:
                    loads[owner.pop(ordinal)] -= sizes.pop(ordinal)
            new = []
            for o, per_layer in sorted(added.items()):
                size = sum(k.numel() for k in per_layer.values())
                if o in owner:  # an update stays on its rank
                    loads[owner[o]] += size - sizes[o]
                    sizes[o] = size
                else:
                    new.append((o, size))
                    sizes[o] = size
            owner.update(assign(new, self.world, loads))
            self.epoch[ns] += 1
            self.round([Patch(ns, self.epoch[ns], {o: {layer: k.cpu() for layer, k in per_layer.items()}
                                                   for o, per_layer in added.items() if owner[o] == r}, removed)
                        for r in range(self.world)])  # host tensors travel

    def drop(self, ns: str) -> None:
        with self.lock:
            if self.loaded.pop(ns, None) is not None:
                self.round(Drop(ns))

    def streamed(self, ns: str) -> bool:
        return False

    @property
    def resident_bytes(self) -> int:
        """Routing-key bytes held by all ranks."""
        return sum(self.round(CountBytes())) if self.loaded else 0

    @property
    def host_bytes(self) -> int:
        return 0

    def close(self, timeout_s: float = 30.0) -> None:
        """Stop the other ranks' loops (they return from `serve_rank`), leave the group, reap the ranks this
        process started."""
        with self.lock:
            if self.failure is None:
                with contextlib.suppress(Exception):  # a rank already gone (torchrun signals every rank) is fine
                    exchange(self.server.handle, [Stop()] * self.world)
                dist.destroy_process_group()
                self.failure = "closed"
            for p in self.processes:
                try:
                    p.wait(timeout=timeout_s)
                except subprocess.TimeoutExpired:
                    p.kill()

