"""Memory Parallel: a namespace's routing index sharded over the ranks of one `torch.distributed` job.

Every rank holds a disjoint set of documents — their routing-key slabs of every router layer — and scores
them with `msa.kernels.route`; rank 0 (the serving rank: the model, the store, the gRPC server) drives the
others with one command per round, broadcast in the order it issues them, so all ranks apply the same
patches in the same order. Assignment rule: a document goes, in ordinal order, to the rank holding the
fewest routing-key bytes so far (ties: the lower rank); an update stays on its rank. On load the rule
runs over the committed documents, so a restart balances afresh. Rank 0 reads LMDB and scatters each rank
its shard (ranks on other machines need no store). Each patch opens a new epoch of a namespace on every
rank; a snapshot names its epoch and every rank scores the views of that epoch, so a question sees one
state while writes go on. A routing query is one round of tensors (`exchange`): every rank sends back only
its candidates for the top k (`candidates`), whose merge is exactly the single-device top k of every layer
and of the layers' mean and max. A rank that dies or passes the timeout fails the round: the index turns
unhealthy and every call answers UNAVAILABLE — never a partial ranking — until a restart reloads it.
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor

from msa.kernels.route import RouteSpec, top_k_rows
from msa.memstore.errors import Unavailable
from msa.memstore.index.routing_index import Slab, SlabView
from msa.memstore.server.logs import log
from msa.memstore.storage.store import Store

logger = logging.getLogger(__name__)
EPOCHS_KEPT = 16  # views a rank keeps per namespace for snapshots still in use (each holds a live mask)
SELECT = 1  # a round's kind in its header: 0 (all zeros) a pickled command per rank, 1 a routing query
FIELDS, MAX_LAYERS, MAX_QUESTIONS = 10, 128, 64  # a round's header: kind, namespace, epoch, spec, k, layers,
# questions, S, H, D; then the layers; then each question's routing tokens


def assign(sizes: Iterable[tuple[int, int]], world: int, loads: list[int] | None = None) -> dict[int, int]:
    """(ordinal, routing-key bytes) -> owner rank: in the given order, each to the rank holding the fewest
    bytes so far, ties to the lower rank. `loads` (bytes per rank) is updated in place when given."""
    loads = [0] * world if loads is None else loads
    owner = {}
    for ordinal, nbytes in sizes:
        rank = min(range(world), key=lambda r: (loads[r], r))
        owner[ordinal] = rank
        loads[rank] += nbytes
    return owner


def candidates(table: Tensor, ordinals: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """A rank's scores [B, L, n] of its live documents (ordinals [n] ascending) for B questions -> what it sends
    for the top k: (ordinals [B, R * k], scores [B, L, R * k]) of the best k of each layer and, for several
    layers, of their mean and max (R = L + 2, else 1), with every layer's score of each. The global top k of
    any of those rows is among the ranks' candidates, with the same scores and ties (lower ordinal first).
    -1 pads (fewer than k documents); a document may appear more than once."""
    questions, layers, n = table.shape
    device = table.device
    ranked = ranked_rows(table)
    rows = ranked.shape[1]
    if not n:
        return (torch.full((questions, rows * k), -1, dtype=torch.int64, device=device),
                torch.full((questions, layers, rows * k), float("-inf"), device=device))
    idx, vals = (t.to(device) for t in top_k_rows(ranked.reshape(questions * rows, n), k))  # [B * R, m]
    m = idx.shape[1]
    chosen = torch.where(vals > float("-inf"), ordinals[idx], -1).reshape(questions, rows, m)
    scores = table.gather(2, idx.reshape(questions, 1, rows * m).expand(questions, layers, rows * m))
    return (F.pad(chosen, (0, k - m), value=-1).view(questions, rows * k),  # pads, no scatter: nothing waits
            F.pad(scores.view(questions, layers, rows, m), (0, k - m), value=float("-inf")).view(
                questions, layers, rows * k))


def ranked_rows(table: Tensor) -> Tensor:
    """Scores [..., L, n] -> the rows a selection ranks [..., R, n]: each layer's, then for several layers their
    mean and max (R = L + 2, else 1)."""
    if table.shape[-2] == 1:
        return table
    return torch.cat([table, table.mean(-2, keepdim=True), table.amax(-2, keepdim=True)], -2)


def merge(replies: list[tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor]:
    """Every rank's candidates -> (ordinals [C] ascending, scores [L, C]) without pads and repeats."""
    ordinals = torch.cat([o for o, _ in replies])
    scores = torch.cat([v for _, v in replies], dim=1)
    keep = ordinals >= 0
    ordinals, scores = ordinals[keep], scores[:, keep]
    order = torch.argsort(ordinals, stable=True)
    ordinals, scores = ordinals[order], scores[:, order]
    first = torch.ones_like(ordinals, dtype=torch.bool)
    first[1:] = ordinals[1:] != ordinals[:-1]  # a repeat carries the same scores
    return ordinals[first], scores[:, first]


@dataclass
class _Space:
    """One namespace on one rank: its slabs and the views of recent epochs."""

    slabs: dict[int, Slab]
    epochs: deque = field(default_factory=lambda: deque(maxlen=EPOCHS_KEPT))  # (epoch, {layer: SlabView})

    def publish(self, epoch: int) -> None:
        self.epochs.append((epoch, {layer: slab.view for layer, slab in self.slabs.items()}))

    def views(self, epoch: int) -> dict[int, SlabView]:
        for e, views in reversed(self.epochs):
            if e <= epoch:
                return views
        raise Unavailable(f"snapshot epoch {epoch} is no longer held (more than {EPOCHS_KEPT} changes since); "
                          "retry the query")


class ShardServer:
    """The shards of one rank and the commands that change and score them (every rank runs one)."""

    def __init__(self, device: torch.device, dtype: torch.dtype, compact_ratio: float = 0.25) -> None:
        self.device, self.dtype, self.compact_ratio = device, dtype, compact_ratio
        self.spaces: dict[str, _Space] = {}
        self.terms: dict[int, Any] = {}  # id -> namespace name or RouteSpec, as routing queries name them

    def handle(self, command: tuple) -> Any:
        kind, *args = command
        return getattr(self, f"_{kind}")(*args)

    def _learn(self, term_id: int, term: Any) -> None:
        self.terms[term_id] = term

    def _load(self, ns: str, epoch: int, layers: tuple[int, ...], rows: dict[int, list[tuple[int, Tensor]]]) -> None:
        space = _Space({layer: Slab(self.device, self.dtype, self.compact_ratio) for layer in layers})
        for layer, layer_rows in rows.items():
            if layer_rows:
                space.slabs[layer].apply(layer_rows, [])
        space.publish(epoch)
        self.spaces[ns] = space

    def _patch(self, ns: str, epoch: int, change: tuple[dict[int, dict[int, Tensor]], list[int]]) -> None:
        added, removed = change
        space = self.spaces.get(ns)
        if space is None:
            return
        for layer, slab in space.slabs.items():
            slab.apply([(o, per_layer[layer]) for o, per_layer in added.items()], removed)
        space.publish(epoch)

    def _drop(self, ns: str) -> None:
        self.spaces.pop(ns, None)

    def _select(self, ns_id: int, epoch: int, layers: tuple[int, ...], q: Tensor, tokens: tuple[int, ...],
                spec_id: int, k: int) -> tuple[Tensor, Tensor]:
        """q [B, L, S, H, D] routing queries of B questions (question b's first tokens[b] of S) on `layers` ->
        this rank's candidates at `epoch` (`candidates`), on its device."""
        views = self.spaces[self.terms[ns_id]].views(epoch)
        spec = self.terms[spec_id]
        first = views[layers[0]]
        live = first.live_slots.to(self.device)  # [n]: every layer's slots hold the same documents
        table = torch.stack([views[layer].scores_many([q[b, i, :s] for b, s in enumerate(tokens)], spec)[:, live]
                             for i, layer in enumerate(layers)], 1)  # [B, L, n]
        return candidates(table.float(), first.slot_ordinal.to(self.device)[live], k)

    def _bytes(self) -> int:
        return sum(slab.view.nbytes for space in self.spaces.values() for slab in space.slabs.values())

    def _ping(self) -> int:
        return 0


class ShardedView:
    """A router layer of a namespace as one snapshot sees it, over all ranks: what `StoreMemory` reads of a
    `SlabView` (slots = the snapshot's live documents in ordinal order), routed by `select`."""

    def __init__(self, index: ShardedRoutingIndex, ns: str, epoch: int, ordinals: Tensor, device: torch.device) -> None:
        self.index, self.ns, self.epoch, self.device = index, ns, epoch, device
        self.slot_ordinal = ordinals  # [slots] sorted
        self.rows = len(ordinals)

    def alive(self) -> Tensor:
        return torch.ones(len(self.slot_ordinal), dtype=torch.bool)

    def select(self, queries: dict[int, Tensor], spec: RouteSpec, k: int) -> tuple[Tensor, Tensor]:
        """Router layers' queries {layer: [S, H, D]} of this snapshot in one round -> the ranks' candidates
        for the top k (`candidates`): (ordinals [C] ascending, scores [L, C]) on the host."""
        return self.select_many([queries], spec, k)[0]

    def select_many(self, batch: list[dict[int, Tensor]], spec: RouteSpec, k: int) -> list[tuple[Tensor, Tensor]]:
        """Several questions' queries (the same layers) in one round: every rank reads its keys once for all."""
        layers = tuple(batch[0])
        if not self.rows:
            return [(torch.zeros(0, dtype=torch.int64), torch.zeros(len(layers), 0)) for _ in batch]
        tokens = tuple(queries[layers[0]].shape[0] for queries in batch)
        first = batch[0][layers[0]]
        q = first.new_zeros(len(batch), len(layers), max(tokens), *first.shape[1:])  # [B, L, S, H, D]
        for b, queries in enumerate(batch):
            q[b, :, : tokens[b]] = torch.stack([queries[layer] for layer in layers])
        replies = self.index.round(("select", self.index.term(self.ns), self.epoch, layers, q, tokens,
                                    self.index.term(spec), k))
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
        self.terms: dict[Any, int] = {}  # namespace names and RouteSpecs the ranks know, by id
        self.failure: str | None = None

    def round(self, command: tuple, per_rank: list | None = None) -> list:
        """Run one command on every rank (with `per_rank`, rank r gets command + (per_rank[r],)) and return
        each rank's reply. Any failure (a rank gone, the timeout) leaves the index unhealthy."""
        with self.lock:
            if self.failure is not None:
                raise Unavailable(f"the routing index is down ({self.failure}); restart the server")
            commands = [command if per_rank is None else (*command, part) for part in (per_rank or [None] * self.world)]
            try:
                replies = exchange(self.server, commands)[1]
            except Exception as e:
                self.failure = f"{type(e).__name__}: {e}".splitlines()[0][:300]
                dist.destroy_process_group()  # the group is broken; leaving it up aborts the process at exit
                raise Unavailable(f"a shard rank failed ({self.failure}); restart the server") from e
            errors = [f"rank {r}: {e.message}" for r, e in enumerate(replies) if isinstance(e, RankError)]
            if errors:
                if command[0] != "select":  # a change applied on some ranks only: stop serving
                    self.failure = errors[0]
                raise Unavailable(f"routing failed on {', '.join(errors)}")
            return replies

    def term(self, term: Any) -> int:
        """The id routing queries name a namespace or a spec by (taught to every rank on first use)."""
        with self.lock:
            if term not in self.terms:
                self.round(("learn", len(self.terms), term))
                self.terms[term] = len(self.terms)
            return self.terms[term]

    def check(self) -> bool:
        """A heartbeat round (a rank that died or hangs fails it) -> healthy."""
        with contextlib.suppress(Unavailable):
            self.round(("ping",))
        return self.failure is None

    def snapshot(self, ns: str) -> dict[int, ShardedView]:
        """Views of every router layer of a namespace at its current epoch."""
        with self.lock:
            if ns not in self.loaded:
                self._load(ns)
            ordinals = torch.tensor(sorted(self.loaded[ns]), dtype=torch.int64)
            return {layer: ShardedView(self, ns, self.epoch[ns], ordinals, self.device)
                    for layer in self.store.layers}

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
        self.round(("load", ns, epoch, self.store.layers), shards)
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
            parts = [({o: {layer: k.cpu() for layer, k in per_layer.items()} for o, per_layer in added.items()
                       if owner[o] == r}, removed) for r in range(self.world)]  # host tensors travel
            self.epoch[ns] += 1
            self.round(("patch", ns, self.epoch[ns]), parts)

    def drop(self, ns: str) -> None:
        with self.lock:
            if self.loaded.pop(ns, None) is not None:
                self.round(("drop", ns))

    def streamed(self, ns: str) -> bool:
        return False

    @property
    def resident_bytes(self) -> int:
        """Routing-key bytes held by all ranks."""
        return sum(self.round(("bytes",))) if self.loaded else 0

    @property
    def host_bytes(self) -> int:
        return 0

    def close(self, timeout_s: float = 30.0) -> None:
        """Stop the other ranks' loops (they return from `serve_rank`), leave the group, reap the ranks this
        process started."""
        with self.lock:
            if self.failure is None:
                with contextlib.suppress(Exception):  # a rank already gone (torchrun signals every rank) is fine
                    exchange(self.server, [("stop",)] * self.world)
                dist.destroy_process_group()
                self.failure = "closed"
            for p in self.processes:
                try:
                    p.wait(timeout=timeout_s)
                except subprocess.TimeoutExpired:
                    p.kill()


def exchange(server: ShardServer, commands: list[tuple] | None) -> tuple[tuple, list | None]:
    """One round, the same on every rank: rank 0 sends a command per rank (`commands`; None elsewhere), each
    rank runs its own, rank 0 collects the replies (None elsewhere). A routing query ("select": the same on
    every rank) travels as tensors only: a header, the queries, the candidates back; any other command is
    pickled. A command's own error is a reply (`RankError`), so every rank always finishes the round.
    -> (this rank's command, replies)."""
    device = _comm_device()
    header = torch.zeros(FIELDS + MAX_LAYERS + MAX_QUESTIONS, dtype=torch.int64)
    command = commands[0] if commands is not None else None
    if command is not None and command[0] == "select":
        _, ns_id, epoch, layers, q, tokens, spec_id, k = command
        if len(layers) > MAX_LAYERS or len(tokens) > MAX_QUESTIONS:
            raise ValueError(f"a round takes at most {MAX_LAYERS} router layers and {MAX_QUESTIONS} questions")
        header[:FIELDS] = torch.tensor([SELECT, ns_id, epoch, spec_id, k, len(layers), len(tokens), *q.shape[2:]])
        header[FIELDS:FIELDS + len(layers)] = torch.tensor(layers)
        header[FIELDS + MAX_LAYERS:FIELDS + MAX_LAYERS + len(tokens)] = torch.tensor(tokens)
    sent = header.to(device)
    dist.broadcast(sent, src=0)
    fields = header.tolist() if commands is not None else sent.cpu().tolist()
    if fields[0] == SELECT:
        return _select_round(server, command, fields, device)
    box = [None]
    dist.scatter_object_list(box, commands, src=0)
    (command,) = box
    reply = None if command[0] == "stop" else _reply(server, command)
    replies = [None] * dist.get_world_size() if dist.get_rank() == 0 else None
    dist.gather_object(reply, replies, dst=0)
    return command, replies


def _select_round(server: ShardServer, command: tuple | None, fields: list[int], device: torch.device
                  ) -> tuple[tuple, list | None]:
    """The rest of a routing query's round: broadcast the queries, score, gather every rank's candidates
    packed in one int64 tensor [B, L + 1, M + 1] (row 0: ordinals, then the status; rows 1..L: the fp32
    scores' bits)."""
    _, ns_id, epoch, spec_id, k, n_layers, questions, *shape = fields[:FIELDS]
    layers = tuple(fields[FIELDS:FIELDS + n_layers])
    tokens = tuple(fields[FIELDS + MAX_LAYERS:FIELDS + MAX_LAYERS + questions])
    if command is not None:
        q = command[4].to(device, torch.float32).contiguous()
    else:
        q = torch.empty(questions, n_layers, *shape, device=device)
    dist.broadcast(q, src=0)
    command = ("select", ns_id, epoch, layers, q, tokens, spec_id, k)
    reply = _reply(server, command)
    width = (n_layers + 2 if n_layers > 1 else 1) * k
    packed = torch.zeros(questions, n_layers + 1, width + 1, dtype=torch.int64, device=device)
    if isinstance(reply, RankError):
        packed[:, 0, -1] = -1
    else:
        packed[:, 0, :width] = reply[0]
        packed[:, 1:, :width] = reply[1].contiguous().view(torch.int32)
    world, rank = dist.get_world_size(), dist.get_rank()
    parts = [torch.empty_like(packed) for _ in range(world)] if rank == 0 else None
    dist.gather(packed, parts, dst=0)
    if rank != 0:
        return command, None
    parts = torch.stack(parts).cpu()  # one copy to the host, where the merge happens
    lost = RankError("scoring failed (see that rank's log)")  # only rank 0's own message is at hand
    return command, [(reply if r == 0 else lost) if p[0, 0, -1] < 0 else (
        p[:, 0, :width], p[:, 1:, :width].to(torch.int32).view(torch.float32)) for r, p in enumerate(parts)]


def _comm_device() -> torch.device:
    """Where tensors travel: the GPU under NCCL, the host under gloo."""
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def serve_rank(server: ShardServer) -> None:
    """The loop of a rank other than 0: take part in every round until rank 0 says stop."""
    while exchange(server, None)[0][0] != "stop":
        pass


def _reply(server: ShardServer, command: tuple) -> Any:
    try:
        return server.handle(command)
    except Exception as e:
        log(logger, logging.ERROR, "shard command failed", rank=dist.get_rank(), command=command[0], error=str(e))
        return RankError(f"{type(e).__name__}: {e}")


@dataclass(frozen=True)
class RankError:
    """A command that raised on a rank (the round itself completed)."""

    message: str
