"""The routing index as its consumers (the engine, `StoreMemory`, the server) use it, declared once so
that one device (`routing_index.RoutingIndex`) and many ranks (`sharding.ShardedRoutingIndex`) are
interchangeable; `tests/test_interfaces.py` checks that both offer every member."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import torch
from torch import Tensor


class LayerView(Protocol):
    """One router layer of a namespace as one snapshot sees it (`SlabView`, `ShardedView`)."""

    slot_ordinal: Tensor  # [slots] int64: the ordinal of each slot
    device: torch.device  # where scores are computed

    def alive(self) -> Tensor:
        """[slots] bool: slots whose document is part of this snapshot."""
        ...


class RoutingIndexInterface(Protocol):
    """Routing keys of a store's namespaces, per router layer: snapshots to route over, patched after
    every committed change."""

    def snapshot(self, ns: str) -> Mapping[int, LayerView]:
        """Views of every router layer of a namespace, taken together (one consistent state)."""
        ...

    def patch(self, ns: str, added: dict[int, dict[int, Tensor]], removed: list[int]) -> None:
        """After a commit: `added` maps ordinal -> {layer: routing keys}; `removed` ordinals go."""
        ...

    def drop(self, ns: str) -> None: ...

    def check(self) -> bool:
        """Whether the index still serves (a sharded one can lose a rank)."""
        ...

    def close(self) -> None: ...

    @property
    def resident_bytes(self) -> int:
        """Routing-key bytes held on the device(s)."""
        ...

    @property
    def host_bytes(self) -> int:
        """Routing-key bytes of streamed namespaces, held in host memory."""
        ...
