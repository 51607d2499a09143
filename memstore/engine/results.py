"""What the engine takes and gives besides store records: memories to write, citations, a question's
streamed events."""

from __future__ import annotations

from dataclasses import dataclass, field

from msa.memstore.storage.records import Origin


@dataclass(frozen=True)
class WriteItem:
    """A memory to write; without an id the engine makes one. `origin`: the version and times a moved memory
    keeps when it is created (`msa import`); after `expires_at` it is invisible, then reclaimed."""

    text: str
    metadata: dict[str, str] = field(default_factory=dict)
    id: str | None = None
    origin: Origin | None = None
    expires_at: float = 0.0  # seconds since the epoch; 0 = never (`Engine.expiry` turns a TTL into one)


@dataclass(frozen=True)
class Citation:
    id: str
    version: int
    ordinal: int
    score: float
    round: int = 1  # the retrieval round that read it
    text: str = ""  # `retrieve(with_text=True)`: the text of the version read
    metadata: dict[str, str] = field(default_factory=dict)  # likewise its metadata


@dataclass(frozen=True)
class Retrieval:
    """Streamed before the answer's tokens, once per retrieval round: the documents that round reads."""

    citations: list[Citation]  # best first
    round: int = 1
    retrieval_ms: float = 0.0  # the round's routed prefill (several rounds only)


@dataclass(frozen=True)
class Answer:
    text: str
    citations: list[Citation]  # the documents read: by round, best first within a round
    read_mode: str
    stop_reason: str
    prompt_tokens: int
    completion_tokens: int
    memory_documents: int  # documents in the question's snapshot
    timings_ms: dict[str, float]  # route (snapshot and routing), fetch, prefill, decode, total


def answer_timings(start: float, snapshot: float, retrieved: float, end: float, spent_then: dict[str, float],
                   spent: dict[str, float]) -> dict[str, float]:
    """An answer's stages in ms from its clocks (seconds: asked, snapshot taken, last retrieval, done) and its
    memory's route / fetch seconds at the last retrieval (`spent_then`) and at the end: fetch made after the
    retrieval (citations' records) is taken off the decoding, so the stages add up to the total."""
    route, fetch, fetched = 1e3 * spent["route"], 1e3 * spent["fetch"], 1e3 * spent_then["fetch"]
    return {"route": 1e3 * (snapshot - start) + route, "fetch": fetch,
            "prefill": 1e3 * (retrieved - snapshot) - route - fetched,
            "decode": 1e3 * (end - retrieved) - (fetch - fetched), "total": 1e3 * (end - start)}
