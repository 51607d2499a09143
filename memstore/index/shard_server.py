"""The rank side of Memory Parallel: a rank's shards (its documents' routing-key slabs of every router layer,
with the views of recent epochs) and the messages that change and score them. Every rank runs one."""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from msa.memstore.errors import Unavailable
from msa.memstore.index.passing import Passing
from msa.memstore.index.routing_index import Narrowing, Slab, SlabView, by_document
from msa.memstore.index.selection import candidates
from msa.memstore.index.shard_messages import (
    CountBytes,
    Drop,
    Learn,
    Load,
    Message,
    Patch,
    Ping,
    Select,
    Stop,
    exchange,
)

EPOCHS_KEPT = 16  # views a rank keeps per namespace for snapshots still in use (each holds a live mask)


@dataclass
class ShardSpace:
    """One namespace on one rank: its slab and the views of recent epochs."""

    slab: Slab
    epochs: deque = field(default_factory=lambda: deque(maxlen=EPOCHS_KEPT))  # (epoch, {layer: SlabView})

    def publish(self, epoch: int) -> None:
        self.epochs.append((epoch, self.slab.views))

    def views(self, epoch: int) -> dict[int, SlabView]:
        for e, views in reversed(self.epochs):
            if e <= epoch:
                return views
        raise Unavailable(f"snapshot epoch {epoch} is no longer held (more than {EPOCHS_KEPT} changes since); "
                          "retry the query")


class ShardServer:
    """The shards of one rank and the messages that change and score them."""

    def __init__(self, device: torch.device, dtype: torch.dtype, compact_ratio: float = 0.25) -> None:
        self.device, self.dtype, self.compact_ratio = device, dtype, compact_ratio
        self.spaces: dict[str, ShardSpace] = {}
        self.terms: dict[int, Hashable] = {}  # id -> namespace name or RouteSpec, as routing queries name them

    def handle(self, message: Message) -> Any:
        match message:
            case Select():
                return self._select(message)
            case Learn(term_id, term):
                self.terms[term_id] = term
            case Load():
                self._load(message)
            case Patch():
                self._patch(message)
            case Drop(ns):
                self.spaces.pop(ns, None)
            case CountBytes():
                return sum(space.slab.nbytes for space in self.spaces.values())
            case Ping():
                return 0
            case _:
                raise TypeError(f"a shard rank does not handle {type(message).__name__}")
        return None

    def _load(self, message: Load) -> None:
        space = ShardSpace(Slab(self.device, self.dtype, self.compact_ratio, list(message.layers)))
        documents = by_document({layer: message.rows.get(layer, []) for layer in message.layers})
        if documents:
            space.slab.apply(documents, [])
        space.publish(message.epoch)
        self.spaces[message.ns] = space

    def _patch(self, message: Patch) -> None:
        space = self.spaces.get(message.ns)
        if space is None:
            return
        space.slab.apply(list(message.added.items()), message.removed)
        space.publish(message.epoch)

    def _select(self, message: Select) -> tuple[Tensor, Tensor]:
        """This rank's candidates (`candidates`) for the questions of `message`, at its epoch, on its device."""
        views = self.spaces[self.terms[message.ns_id]].views(message.epoch)
        spec = self.terms[message.spec_id]
        layer_views = [views[layer] for layer in message.layers]
        narrowing = None if message.allowed is None else Narrowing(
            layer_views, Passing.of(message.allowed, layer_views[0].layout.ordinal_bound))
        q, tokens = message.q, message.tokens
        table = torch.stack([view.scores_of([q[b, i, :s] for b, s in enumerate(tokens)], spec, narrowing)
                             for i, view in enumerate(layer_views)], 1)  # [B, L, n]: in ordinal order
        ordinals = layer_views[0].live_ordinals if narrowing is None else narrowing.ordinals()
        return candidates(table.float(), ordinals.to(self.device), message.k)


def serve_rank(server: ShardServer) -> None:
    """The loop of a rank other than 0: take part in every round until rank 0 says stop."""
    while not isinstance(exchange(server.handle, None)[0], Stop):
        pass
