"""Ordinals of writes encoded but not yet committed, so that the next batch is planned (and encoded) while the
previous one commits.

A document's ordinal is rendered into its encoded text (`[n] ...`), so it is chosen before encoding: from the
store for a document it holds, else from the reservation of an uncommitted write that names it, else the next
free one. Commits run in planning order, so a later write of the same document sees the earlier one's result.
A reservation ends when its write commits or fails. A failed write's reservations are dropped at once: a later
write that relied on one then meets a `StaleOrdinal` at commit and is planned again (`Engine._commit`).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from msa.memstore.errors import StoreError
from msa.memstore.storage.store import Store


@dataclass(eq=False)
class Reservation:
    """One document's ordinal, shared by the uncommitted writes that name it."""

    ordinal: int
    writes: int = 0


class InFlight:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.cond = threading.Condition()
        self.ordinals: dict[tuple[str, str], Reservation] = {}  # (namespace, id) -> its reservation
        self.next_free: dict[str, int] = {}  # namespace -> the next ordinal not reserved
        self.writes: Counter[str] = Counter()  # namespace -> documents reserved
        self.held: set[str] = set()  # namespaces whose planning waits (`exclusive`)

    def plan(self, writes: list[tuple[str, list[str]]], wait: bool = True) -> list[list[Reservation] | StoreError]:
        """Reserve ordinals for a batch's writes (namespace, document ids), in order, all at once: a batch never
        holds some reservations while waiting to make others (a delete waiting for them would wait forever).
        `wait=False` (a write re-planned at commit, its old reservations still held) skips the wait for
        `exclusive`. -> each write's reservations, or its StoreError (an unknown namespace)."""
        with self.cond:
            while wait and any(ns in self.held for ns, _ in writes):
                self.cond.wait()
            out: list[list[Reservation] | StoreError] = []
            for ns, ids in writes:
                try:
                    out.append(self._reserve(ns, ids))
                except StoreError as e:
                    out.append(e)
            return out

    def _reserve(self, ns: str, ids: list[str], share: bool = True) -> list[Reservation]:
        """`share=False`: the store's ordinal or a new one, never another write's reservation (which may itself
        be stale); the new reservations replace theirs for later planning."""
        start = max(self.store.namespace(ns).next_ordinal, self.next_free.get(ns, 0))
        known = self.store.ordinals(ns, [i for i in ids if not share or (ns, i) not in self.ordinals])
        out = []
        for doc_id in ids:
            r = self.ordinals.get((ns, doc_id)) if share else None
            if r is None:
                r = self.ordinals[ns, doc_id] = Reservation(known.get(doc_id, start))
                start += doc_id not in known
            r.writes += 1
            out.append(r)
        self.next_free[ns] = start
        self.writes[ns] += len(ids)
        return out

    def release(self, ns: str, ids: list[str], reserved: list[Reservation], failed: bool = False) -> None:
        """The write that reserved these committed (or, `failed`, did not: its reservations go at once)."""
        with self.cond:
            for doc_id, r in zip(ids, reserved, strict=True):
                r.writes -= 1
                if (failed or not r.writes) and self.ordinals.get((ns, doc_id)) is r:
                    del self.ordinals[ns, doc_id]
            self.writes[ns] -= len(ids)
            if not self.writes[ns]:
                del self.writes[ns]
                self.next_free.pop(ns, None)
            self.cond.notify_all()

    def replan(self, ns: str, ids: list[str], reserved: list[Reservation]) -> list[Reservation] | StoreError:
        """New reservations for a write whose old ones went stale (`StaleOrdinal`), made before the old ones
        are released, so that no delete of the namespace starts in between. Committed at once (the committer
        plans it), they cannot go stale again: the store's own ordinal, or one past every ordinal used."""
        with self.cond:
            try:
                fresh: list[Reservation] | StoreError = self._reserve(ns, ids, share=False)
            except StoreError as e:
                fresh = e
        self.release(ns, ids, reserved, failed=True)
        return fresh

    @contextmanager
    def exclusive(self, ns: str) -> Iterator[None]:
        """No write of `ns` in flight, and none planned, while the block runs (deletes: a write planned with a
        document's ordinal must not commit after the document is gone)."""
        with self.cond:
            while ns in self.held:
                self.cond.wait()
            self.held.add(ns)
            while self.writes[ns]:
                self.cond.wait()
        try:
            yield
        finally:
            with self.cond:
                self.held.discard(ns)
                self.cond.notify_all()
