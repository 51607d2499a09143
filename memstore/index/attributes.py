"""Metadata and timestamps of namespaces' documents in host memory, so a filter finds its documents without
reading the store: a columnar table per namespace (value codes per metadata key, created / updated times).
A namespace loads on its first filtered question and is patched after every committed change (as the routing
index is); namespaces are evicted least recently used past a budget of documents. Beside a GPU routing index
the columns are mirrored on the GPU (changed rows copied over before the next filter), so a filter costs a
few kernels instead of host passes over every row."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable

import torch
from torch import Tensor

from msa.memstore.index.passing import Passing
from msa.memstore.storage.filters import DocumentFilter
from msa.memstore.storage.records import Document
from msa.memstore.storage.store import Store

Row = tuple[int, dict[str, str], float, float, float]  # ordinal, metadata, created_at, updated_at, expires_at


def row_of(doc: Document) -> Row:
    return doc.ordinal, doc.metadata, doc.created_at, doc.updated_at, doc.expires_at


class AttributeTable:
    """One namespace's table (changed under the index's lock): a row per document, appended in write order;
    columns of created_at, updated_at and, per metadata key, the code of each row's value (-1: none). A
    filter is a few vectorised comparisons over the columns, whatever its selectivity. Deleted rows are dead
    until a quarter of the rows are, and codes pile up until there are twice as many as rows (plus 1,024):
    then the table is rebuilt from the live rows and the values they hold."""

    def __init__(self, rows: Iterable[Row] = (), device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        self.mirror: dict[str, Tensor] | None = None  # the columns on `device` (not the host), once synced
        self.changed: set[int] = set()  # rows changed since the mirror was synced
        self.row: dict[int, int] = {}  # ordinal -> its row
        self.metadata: list[dict[str, str]] = []  # per row
        self.size = self.dead = 0
        self.bound = 0  # above every ordinal put so far
        self.ordinal = torch.zeros(0, dtype=torch.int64)
        self.alive = torch.zeros(0, dtype=torch.bool)
        self.created = torch.zeros(0, dtype=torch.float64)
        self.updated = torch.zeros(0, dtype=torch.float64)
        self.expires = torch.zeros(0, dtype=torch.float64)  # 0: never
        self.codes: dict[str, dict[str, int]] = {}  # key -> value -> code
        self.coded = 0  # codes made, over all keys: values no row holds any more are dropped by a rebuild
        self.columns: dict[str, Tensor] = {}  # key -> [capacity] int32 codes
        for row in rows:
            self.put(*row)

    def _grow(self, need: int) -> None:
        if need <= len(self.ordinal):
            return
        capacity = max(need, 2 * len(self.ordinal), 64)

        def grown(t: Tensor, fill) -> Tensor:
            out = torch.full((capacity,), fill, dtype=t.dtype)
            out[: self.size] = t[: self.size]
            return out

        self.ordinal, self.alive = grown(self.ordinal, -1), grown(self.alive, False)
        self.created, self.updated = grown(self.created, 0.0), grown(self.updated, 0.0)
        self.expires = grown(self.expires, 0.0)
        self.columns = {key: grown(column, -1) for key, column in self.columns.items()}

    def put(self, ordinal: int, metadata: dict[str, str], created_at: float, updated_at: float,
            expires_at: float = 0.0) -> None:
        row = self.row.get(ordinal)
        if row is None:
            self._grow(self.size + 1)
            row, self.size = self.size, self.size + 1
            self.bound = max(self.bound, ordinal + 1)
            self.row[ordinal] = row
            self.metadata.append({})
            self.ordinal[row], self.alive[row] = ordinal, True
        self._set_metadata(row, metadata)
        self.created[row], self.updated[row], self.expires[row] = created_at, updated_at, expires_at
        self._changed(row)
        if self.coded > 2 * len(self.row) + 1024:  # values that keep changing (a counter, a time) would pile up
            self._rebuild()

    def _set_metadata(self, row: int, metadata: dict[str, str]) -> None:
        for key in self.metadata[row]:
            self.columns[key][row] = -1
        for key, value in metadata.items():
            if key not in self.columns:
                self.codes[key], self.columns[key] = {}, torch.full((len(self.ordinal),), -1, dtype=torch.int32)
            codes = self.codes[key]
            if value not in codes:
                codes[value] = len(codes)
                self.coded += 1
            self.columns[key][row] = codes[value]
        self.metadata[row] = dict(metadata)

    def remove(self, ordinal: int) -> None:
        row = self.row.pop(ordinal, None)
        if row is None:
            return
        self._set_metadata(row, {})
        self.alive[row] = False
        self.ordinal[row] = -1  # a mask's spare slot: the ordinal may come back in a row of its own
        self._changed(row)
        self.dead += 1
        if self.dead > max(64, self.size // 4):
            self._rebuild()

    def _rebuild(self) -> None:
        """Only the live rows, in a fresh table (value codes start over, so dropped values are forgotten)."""
        fresh = AttributeTable(((o, self.metadata[r], float(self.created[r]), float(self.updated[r]),
                                 float(self.expires[r])) for o, r in sorted(self.row.items())), self.device)
        self.__dict__.update(fresh.__dict__)

    def _changed(self, row: int) -> None:
        if self.device.type != "cpu":  # only a device mirror needs to know
            self.changed.add(row)

    def _host_columns(self) -> dict[str, Tensor]:
        return {"ordinal": self.ordinal, "alive": self.alive, "created": self.created, "updated": self.updated,
                "expires": self.expires, **{f"m:{key}": column for key, column in self.columns.items()}}

    def _columns(self) -> dict[str, Tensor]:
        """The columns where filters run: the host's own, or the device mirror brought up to date (whole
        after a growth, a rebuild or many changes, else only the changed rows)."""
        host = self._host_columns()
        if self.device.type == "cpu":
            return host
        mirror = self.mirror
        if mirror is None or mirror.keys() != host.keys() or len(mirror["ordinal"]) != len(self.ordinal) \
                or 8 * len(self.changed) > self.size:
            mirror = {name: column.to(self.device) for name, column in host.items()}
        elif self.changed:
            rows = torch.tensor(sorted(self.changed), dtype=torch.int64)
            on_device = rows.to(self.device)
            for name, column in host.items():
                mirror[name][on_device] = column[rows].to(self.device)
        self.mirror, self.changed = mirror, set()
        return mirror

    def matching(self, flt: DocumentFilter) -> Passing:
        """The documents `flt` passes, as a mask over ordinals on the table's device (no host synchronisation
        beyond copying a lookup of accepted values)."""
        n, columns = self.size, self._columns()
        ordinals = columns["ordinal"][:n]
        keep = columns["alive"][:n].clone()
        for key, values in flt.metadata:
            codes = [self.codes.get(key, {}).get(v) for v in values]
            codes = [c for c in codes if c is not None]
            if not codes:
                return Passing.where(ordinals, False, self.bound)
            column = columns[f"m:{key}"][:n]
            if len(codes) == 1:
                keep &= column == codes[0]
            else:  # a lookup over the key's codes (slot 0 for "no value"): one gather, however many values
                accepted = torch.zeros(len(self.codes[key]) + 1, dtype=torch.bool)
                accepted[torch.tensor(codes) + 1] = True
                keep &= accepted.to(self.device)[column.long() + 1]
        for name, span in (("created", flt.created), ("updated", flt.updated)):
            if span.after is not None:
                keep &= columns[name][:n] >= span.after
            if span.before is not None:
                keep &= columns[name][:n] < span.before
        if flt.alive_at is not None:
            expires = columns["expires"][:n]
            keep &= (expires == 0) | (expires > flt.alive_at)
        return Passing.where(ordinals, keep, self.bound)


class AttributeIndex:
    """The attribute tables of one store's namespaces."""

    def __init__(self, store: Store, budget_documents: int = 5_000_000, device: str | torch.device = "cpu") -> None:
        self.store, self.budget, self.device = store, budget_documents, torch.device(device)
        self.spaces: OrderedDict[str, AttributeTable] = OrderedDict()  # least recently used first
        self.lock = threading.Lock()

    def matching(self, ns: str, flt: DocumentFilter) -> Passing:
        """The namespace's documents that `flt` passes, as a mask over ordinals on the index's device."""
        with self.lock:
            if ns not in self.spaces:  # loaded under the lock: a commit's patch waits, then applies on top
                self.spaces[ns] = AttributeTable(map(row_of, self.store.documents(ns)), self.device)
            self.spaces.move_to_end(ns)
            found = self.spaces[ns].matching(flt)
            while len(self.spaces) > 1 and sum(len(a.row) for a in self.spaces.values()) > self.budget:
                self.spaces.popitem(last=False)
            return found

    def patch(self, ns: str, ordinals: list[int], removed: list[int]) -> None:
        """After a commit: re-read the changed documents `ordinals` and forget `removed`; only a loaded
        namespace is patched (the others read the committed state when they load)."""
        with self.lock:
            space = self.spaces.get(ns)
            if space is None:
                return
            found = self.store.by_ordinals(ns, ordinals)
            for ordinal in [*removed, *(o for o in ordinals if o not in found)]:  # gone, or expired already
                space.remove(ordinal)
            for doc in found.values():
                space.put(*row_of(doc))

    def drop(self, ns: str) -> None:
        with self.lock:
            self.spaces.pop(ns, None)
