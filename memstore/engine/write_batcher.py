"""Write batching inside the engine: writes that arrive within a short window, from any number of threads
(server calls, CLI loaders, benchmarks), are encoded by the model in one batch and committed one
transaction each, so every caller of `Engine.write` gets the throughput of batched encoding.

The first writer to find no batch running leads one: it waits `window_s` for company (unless the waiting
writes already fill a batch), takes the oldest waiting writes up to `max_documents`, runs them, and leads
again until its own write is done; the others sleep until theirs is. With no window a lone write goes at
once, and writes that arrive while a batch runs go together in the next.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Request = tuple[str, list, str]  # namespace, items, mode
Outcome = Any  # a write's results, or the StoreError it failed with


@dataclass(eq=False)
class _Pending:
    request: Request
    done: bool = False
    outcome: Outcome = None


class WriteBatcher:
    def __init__(self, write_many: Callable[[list[Request]], list[Outcome]], window_s: float = 0.005,
                 max_documents: int = 256) -> None:
        self.write_many, self.window_s, self.max_documents = write_many, window_s, max_documents
        self.cond = threading.Condition()
        self.pending: list[_Pending] = []
        self.busy = False
        self.batches = 0  # batches encoded so far (for tests and metrics)

    def write(self, request: Request) -> Outcome:
        """-> this request's outcome: its results, its StoreError, or the unexpected error of its batch."""
        mine = _Pending(request)
        with self.cond:
            self.pending.append(mine)
        while True:
            with self.cond:
                while self.busy and not mine.done:
                    self.cond.wait()
                if mine.done:
                    break
                self.busy = True
            try:
                self._run_batch()
            finally:
                with self.cond:
                    self.busy = False
                    self.cond.notify_all()
        return mine.outcome

    def _documents(self) -> int:
        return sum(len(p.request[1]) for p in self.pending)

    def _run_batch(self) -> None:
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
        try:
            outcomes = self.write_many([p.request for p in batch])
        except BaseException as e:  # unexpected: every writer of the batch gets it
            outcomes = [e] * len(batch)
        with self.cond:
            for p, outcome in zip(batch, outcomes, strict=True):
                p.done, p.outcome = True, outcome
