"""The routing index as its consumers (the engine, `StoreMemory`, the server) use it, declared once so
that one device (`routing_index.RoutingIndex`) and many ranks (`sharding.ShardedRoutingIndex`) are
interchangeable; `tests/test_interfaces.py` checks that both offer every member."""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from typing import Protocol

import torch
from torch import Tensor

from msa.kernels.route import RouteSpec
from msa.memstore.index.passing import Passing


class LayerView(Protocol):
    """One router layer of a namespace as one snapshot sees it (`SlabView`, `ShardedView`)."""

    slot_ordinal: Tensor  # [slots] int64: the ordinal of each slot
    device: torch.device  # where scores are computed

    def alive(self) -> Tensor:
        """[slots] bool: slots whose document is part of this snapshot."""
        ...


class RoutingSnapshot(Protocol):
    """Every router layer of a namespace at one state (`SlabSnapshot`, `ShardedSnapshot`): what a question
    routes over, by layer like a mapping."""

    def __getitem__(self, layer: int) -> LayerView: ...

    def __iter__(self) -> Iterator[int]: ...

    @property
    def state(self) -> Hashable:
        """Equal for snapshots of one state, so questions routed at the same time can go together."""
        ...

    def numbers(self) -> list[int]:
        """The live documents' ordinals, ascending."""
        ...

    def count(self, allowed: Passing | None = None) -> int:
        """How many documents are live, or live and passed by `allowed` (a filter's), without listing them."""
        ...

    def select_many(self, batch: list[dict[int, Tensor]], spec: RouteSpec, k: int, allowed: Passing | None = None
                    ) -> list[tuple[Tensor, Tensor]]:
        """Questions' routing queries ({layer: [S, H, D]} each) -> per question (ordinals [C] ascending, scores
        [L, C]): at least every document that can be in a layer's, the layers' mean or max top k; only
        documents `allowed` passes (a filter's) when given: no other is scored."""
        ...


class RoutingIndexInterface(Protocol):
    """Routing keys of a store's namespaces, per router layer: snapshots to route over, patched after
    every committed change."""

    failure: str | None  # why the index stopped serving (a sharded one can lose a rank), else None

    def snapshot(self, ns: str) -> RoutingSnapshot:
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
