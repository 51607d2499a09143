"""Content K/V of recently selected documents in host memory, bounded in bytes, in front of the store.

Only selected documents' pooled K/V are ever read, so they are cached per (namespace, ordinal, layer),
least recently used out first, in plain host memory (a question's rows are gathered into pinned memory as
they go to the device: `store_memory._to_device`).
The engine invalidates a document's entries after every committed update or delete.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from torch import Tensor

from msa.memstore.storage.store import Store

Key = tuple[str, int, int]  # namespace, ordinal, layer


class ContentCache:
    def __init__(self, store: Store, budget_bytes: int = 1 << 30) -> None:
        self.store, self.budget = store, budget_bytes
        self.entries: OrderedDict[Key, tuple[Tensor, Tensor]] = OrderedDict()
        self.bytes = self.hits = self.misses = 0
        self.lock = threading.Lock()

    def get(self, ns: str, ordinals: list[int], layer: int) -> dict[int, tuple[Tensor, Tensor]]:
        """Pooled (K, V) [C, G, D] of each ordinal that exists, from memory or else from the store."""
        out: dict[int, tuple[Tensor, Tensor]] = {}
        with self.lock:
            for o in ordinals:
                entry = self.entries.get((ns, o, layer))
                if entry is not None:
                    self.entries.move_to_end((ns, o, layer))
                    out[o] = entry
            self.hits += len(out)
        missing = [o for o in ordinals if o not in out]
        if missing:
            fetched = self.store.kv(ns, missing, layer)
            with self.lock:
                self.misses += len(missing)
                for o, kv in fetched.items():
                    self._put((ns, o, layer), kv)
            out.update(fetched)
        return out

    def invalidate(self, ns: str, ordinals: list[int]) -> None:
        gone = set(ordinals)
        with self.lock:
            for key in [k for k in self.entries if k[0] == ns and k[1] in gone]:
                self._drop(key)

    def drop(self, ns: str) -> None:
        """Forget a whole namespace (deleted)."""
        with self.lock:
            for key in [k for k in self.entries if k[0] == ns]:
                self._drop(key)

    def _put(self, key: Key, kv: tuple[Tensor, Tensor]) -> None:
        size = sum(t.numel() * t.element_size() for t in kv)
        if size > self.budget:
            return
        if key in self.entries:
            self._drop(key)
        self.entries[key] = kv
        self.bytes += size
        while self.bytes > self.budget:
            self._drop(next(iter(self.entries)))

    def _drop(self, key: Key) -> None:
        k, v = self.entries.pop(key)
        self.bytes -= k.numel() * k.element_size() + v.numel() * v.element_size()
