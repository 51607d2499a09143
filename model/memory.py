"""What the model reads from (`ReadableMemory`) and its in-process implementation (`Memory`): encoded
documents addressable by their MSA document number. The persistent store offers the same interface over
its routing index and disk (`msa.memstore.index.store_memory.StoreMemory`); here all is in RAM.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

import torch
from torch import Tensor

from msa.kernels.route import RouteSpec, route_scores
from msa.kernels.sparse_attn import MemoryRows


@dataclass
class EncodedDocument:
    """One document after encoding. Pooled tensors are [C, G, D] per router layer (C = chunks)."""

    number: int  # the MSA document number [i] rendered into the document text
    text: str
    token_ids: list[int]  # tokens of the rendered document (template included)
    keys: dict[int, Tensor] = field(default_factory=dict)  # pooled K after k_norm and document-local RoPE
    values: dict[int, Tensor] = field(default_factory=dict)  # pooled V
    routing_keys: dict[int, Tensor] = field(default_factory=dict)  # pooled routing K (never normalised)

    @property
    def num_chunks(self) -> int:
        return next(iter(self.keys.values())).shape[0] if self.keys else 0


class Document(Protocol):
    """A document as the model reads it in text mode."""

    @property
    def text(self) -> str: ...


class ReadableMemory(Protocol):
    """The memory a question is routed over and read from, declared so that the model takes either
    implementation: every method the model calls, nothing more."""

    def __len__(self) -> int: ...

    def __contains__(self, number: int) -> bool: ...

    def __getitem__(self, number: int) -> Document: ...

    def route(self, queries: dict[int, Tensor], spec: RouteSpec, k: int) -> tuple[Tensor, Tensor]:
        """Routing queries of router layers {layer: q [S, H, D]} -> (document numbers [C] ascending, their
        scores [L, C] in the queries' layer order): every document, or the candidates for the top k."""
        ...

    def chunks(self, layer: int, numbers: Iterable[int]) -> MemoryRows:
        """Pooled K and V of the given documents' chunks, in ascending document number."""
        ...


class Memory:
    """Documents by number, kept in ascending number order (the order chunks are placed in the context)."""

    def __init__(self, documents: Iterable[EncodedDocument] = ()) -> None:
        self._docs: dict[int, EncodedDocument] = {}
        self._banks: dict[int, tuple[Tensor, Tensor]] = {}
        self._pools: dict[int, tuple[Tensor, Tensor, dict[int, tuple[int, int]]]] = {}
        self.add(documents)

    def add(self, documents: Iterable[EncodedDocument]) -> None:
        for doc in documents:
            if doc.number in self._docs:
                raise ValueError(f"document number {doc.number} is already in memory")
            self._docs[doc.number] = doc
        self._docs = dict(sorted(self._docs.items()))
        self._banks.clear()
        self._pools.clear()

    def remove(self, numbers: Iterable[int]) -> None:
        for n in numbers:
            if n not in self._docs:
                raise KeyError(f"document number {n} is not in memory")
            del self._docs[n]
        self._banks.clear()
        self._pools.clear()

    def __len__(self) -> int:
        return len(self._docs)

    def __contains__(self, number: int) -> bool:
        return number in self._docs

    def __getitem__(self, number: int) -> EncodedDocument:
        return self._docs[number]

    @property
    def numbers(self) -> list[int]:
        return list(self._docs)

    def routing_bank(self, layer: int) -> tuple[Tensor, Tensor]:
        """All routing keys of a layer [C, G, D] and the owning document's position in `numbers` [C]."""
        if layer not in self._banks:
            docs = list(self._docs.values())
            keys = torch.cat([d.routing_keys[layer] for d in docs])
            owner = torch.repeat_interleave(torch.arange(len(docs)),
                                            torch.tensor([d.num_chunks for d in docs]))
            self._banks[layer] = keys, owner.to(keys.device)
        return self._banks[layer]

    def route(self, queries: dict[int, Tensor], spec: RouteSpec, k: int) -> tuple[Tensor, Tensor]:
        """Routing queries of router layers {layer: q [S, H, D]} -> (document numbers [C] ascending, their scores
        [L, C] in the queries' layer order). Here C is every document; a memory spread over ranks answers its
        candidates only — each layer's best k and the best k of the layers' mean and max — with exact scores."""
        scores = [route_scores(q, *self.routing_bank(layer), len(self), spec) for layer, q in queries.items()]
        return torch.tensor(self.numbers, dtype=torch.int64), torch.stack(scores)

    def chunks(self, layer: int, numbers: Iterable[int]) -> MemoryRows:
        """Pooled K and V of the given documents' chunks, in ascending document number: rows of the layer's
        pool of every document's chunks (built once per layer, read through the row index)."""
        if layer not in self._pools:
            docs = list(self._docs.values())
            first = [0, *itertools.accumulate(d.num_chunks for d in docs)]
            span = {d.number: (first[i], first[i + 1]) for i, d in enumerate(docs)}  # number -> its pool rows
            self._pools[layer] = (torch.cat([d.keys[layer] for d in docs]), torch.cat([d.values[layer] for d in docs]),
                                  span)
        k, v, span = self._pools[layer]
        rows = torch.cat([torch.arange(*span[n]) for n in sorted(numbers)])
        return MemoryRows(k, v, rows.to(k.device))
