"""Write batching inside the engine: writes that arrive within a short window, from any number of threads
(server calls, CLI loaders, benchmarks), are encoded by the model in one batch and committed one
transaction each, so every caller of `Engine.write` gets the throughput of batched encoding.

Two stages, overlapped: the first writer to find no batch being prepared leads one: it waits `window_s` for
company (unless the waiting writes already fill a batch), takes the oldest waiting writes up to
`max_documents` and prepares them (plans ordinals, encodes); a committer thread then commits the prepared
batch while the next one is prepared. At most one prepared batch waits for the committer (bounded memory).
Every writer returns once its own write is committed (or failed). With no window a lone write goes at once.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Request = tuple[str, list, str]  # namespace, items, mode
Outcome = Any  # a write's results, or the StoreError it failed with
Prepared = Any  # what `prepare` made of a batch, for `commit`


@dataclass(eq=False)
class _Pending:
    request: Request
    done: bool = False
    outcome: Outcome = None


class WriteBatcher:
    def __init__(self, prepare: Callable[[list[Request]], Prepared], commit: Callable[[Prepared], list[Outcome]],
                 window_s: float = 0.005, max_documents: int = 256) -> None:
        self.prepare, self.commit = prepare, commit
        self.window_s, self.max_documents = window_s, max_documents
        self.cond = threading.Condition()
        self.pending: list[_Pending] = []
        self.busy = False  # a batch is being prepared
        self.batches = 0  # batches prepared so far (for tests and metrics)
        self.prepared: queue.Queue[tuple[list[_Pending], Prepared] | None] = queue.Queue(maxsize=1)
        self.committer: threading.Thread | None = None

    def write(self, request: Request) -> Outcome:
        """-> this request's outcome: its results, its StoreError, or the unexpected error of its batch."""
        mine = _Pending(request)
        with self.cond:
            self.pending.append(mine)
        while True:
            with self.cond:
                while not mine.done and (self.busy or mine not in self.pending):
                    self.cond.wait()
                if mine.done:
                    break
                self.busy = True
            try:
                self._prepare_batch()
            finally:
                with self.cond:
                    self.busy = False
                    self.cond.notify_all()
        return mine.outcome

    def close(self) -> None:
        """Commit what is prepared, then stop the committer."""
        if self.committer is not None:
            self.prepared.put(None)
            self.committer.join()
            self.committer = None

    def _documents(self) -> int:
        return sum(len(p.request[1]) for p in self.pending)

    def _prepare_batch(self) -> None:
        with self.cond:
            full = self._documents() >= self.max_documents
        if self.window_s and not full:
            time.sleep(self.window_s)
        with self.cond:
            batch, size = [], 0
            while self.pending and (not batch or size + len(self.pending[0].request[1]) <= self.max_documents):
                batch.append(self.pending.pop(0))
                size += len(batch[-1].request[1])
            self.batches += 1
            if self.committer is None:
                self.committer = threading.Thread(target=self._commit_loop, name="msa-write-commit", daemon=True)
                self.committer.start()
        try:
            prepared = self.prepare([p.request for p in batch])
        except BaseException as e:  # unexpected: every writer of the batch gets it
            self._finish(batch, [e] * len(batch))
            return
        self.prepared.put((batch, prepared))  # waits while the committer still holds an earlier batch

    def _commit_loop(self) -> None:
        while (item := self.prepared.get()) is not None:
            batch, prepared = item
            try:
                outcomes = self.commit(prepared)
            except BaseException as e:  # unexpected: every writer of the batch gets it
                outcomes = [e] * len(batch)
            self._finish(batch, outcomes)

    def _finish(self, batch: list[_Pending], outcomes: list[Outcome]) -> None:
        with self.cond:
            for p, outcome in zip(batch, outcomes, strict=True):
                p.done, p.outcome = True, outcome
            self.cond.notify_all()
