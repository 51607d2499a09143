"""Which documents a request may see: metadata conditions (a key holding one of some values) and created /
updated time ranges, all of which must hold. Checked and bounded when built, before any work; `matches` is
the definition every faster evaluation (`msa.memstore.index.attributes`) must agree with."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from msa.memstore.errors import InvalidArgument, shown
from msa.memstore.storage.records import Document

MAX_CONDITIONS = 32  # metadata conditions in one filter
MAX_VALUES = 1024  # accepted values over all conditions
MAX_TERM_BYTES = 1024  # one key or value


@dataclass(frozen=True)
class TimeRange:
    """Seconds since the Unix epoch: `after` inclusive, `before` exclusive; None leaves that side open."""

    after: float | None = None
    before: float | None = None

    def holds(self, t: float) -> bool:
        return (self.after is None or t >= self.after) and (self.before is None or t < self.before)

    @property
    def open(self) -> bool:
        return self.after is None and self.before is None

    def checked(self, name: str) -> TimeRange:
        for side, t in (("after", self.after), ("before", self.before)):
            if t is not None and not (isinstance(t, int | float) and math.isfinite(t)):
                raise InvalidArgument(f"filter {name}.{side} must be a finite number of seconds, not {shown(t)}")
        if self.after is not None and self.before is not None and self.after >= self.before:
            raise InvalidArgument(f"filter {name}: after ({self.after}) must be earlier than before ({self.before})")
        return self


@dataclass(frozen=True)
class DocumentFilter:
    """metadata: (key, accepted values) pairs; a document passes when, for every pair, its value for that key
    is one of the accepted values (one value: equality)."""

    metadata: tuple[tuple[str, frozenset[str]], ...] = ()
    created: TimeRange = TimeRange()
    updated: TimeRange = TimeRange()
    alive_at: float | None = None  # set by the engine, not by callers: only documents not expired at this time

    @classmethod
    def of(cls, metadata: Mapping[str, str | Sequence[str]] | Sequence[tuple[str, Sequence[str]]] | None = None,
           created: TimeRange | None = None, updated: TimeRange | None = None) -> DocumentFilter:
        """Checked: at most `MAX_CONDITIONS` conditions and `MAX_VALUES` values, each at least one value,
        keys and values non-empty strings of at most `MAX_TERM_BYTES` bytes, time ranges finite and ordered."""
        pairs = list(metadata.items()) if isinstance(metadata, Mapping) else list(metadata or [])
        if len(pairs) > MAX_CONDITIONS:
            raise InvalidArgument(f"a filter has {len(pairs)} metadata conditions; at most {MAX_CONDITIONS}")
        conditions = []
        for key, values in pairs:
            values = list(values) if isinstance(values, list | tuple | set | frozenset) else [values]
            for term in (key, *values):
                if not isinstance(term, str):
                    raise InvalidArgument(f"filter keys and values must be strings, not {shown(term)}")
                if len(term.encode()) > MAX_TERM_BYTES:
                    raise InvalidArgument(f"filter term {shown(term)} is longer than {MAX_TERM_BYTES} bytes")
            if not key:
                raise InvalidArgument("a filter's metadata key must not be empty")
            if not values:
                raise InvalidArgument(f"filter condition on {key!r} accepts no value: give at least one")
            conditions.append((key, frozenset(values)))
        if sum(len(v) for _, v in conditions) > MAX_VALUES:
            raise InvalidArgument(f"a filter accepts more than {MAX_VALUES} metadata values in all; narrow it")
        return cls(tuple(conditions), (created or TimeRange()).checked("created"),
                   (updated or TimeRange()).checked("updated"))

    @property
    def empty(self) -> bool:
        """Whether every document passes (no condition at all)."""
        return not self.metadata and self.created.open and self.updated.open and self.alive_at is None

    def matches(self, doc: Document) -> bool:
        return (all(doc.metadata.get(key) in values for key, values in self.metadata)
                and self.created.holds(doc.created_at) and self.updated.holds(doc.updated_at)
                and (self.alive_at is None or not doc.expired(self.alive_at)))


NO_FILTER = DocumentFilter()
