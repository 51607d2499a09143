"""Write batching: writes that arrive within a short window, from any number of clients, are encoded by
the model in one batch (`Engine.write_many`) and committed one transaction each."""

from __future__ import annotations

import asyncio

from msa.memstore.engine import Engine, WriteItem
from msa.memstore.storage.records import WriteResult

Pending = tuple[str, list[WriteItem], str, asyncio.Future]


class WriteBatcher:
    def __init__(self, engine: Engine, window_s: float = 0.005, max_documents: int = 256) -> None:
        self.engine, self.window, self.max_documents = engine, window_s, max_documents
        self.pending: list[Pending] = []
        self.worker: asyncio.Task | None = None
        self.batches = 0  # batches encoded so far (for tests and metrics)

    async def write(self, ns: str, items: list[WriteItem], mode: str) -> list[WriteResult]:
        future = asyncio.get_running_loop().create_future()
        self.pending.append((ns, items, mode, future))
        if self.worker is None or self.worker.done():
            self.worker = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        """One batch at a time until nothing waits; each waits `window` for company unless already full."""
        while self.pending:
            if sum(len(p[1]) for p in self.pending) < self.max_documents:
                await asyncio.sleep(self.window)
            batch, size = [], 0
            while self.pending and (not batch or size + len(self.pending[0][1]) <= self.max_documents):
                batch.append(self.pending.pop(0))
                size += len(batch[-1][1])
            self.batches += 1
            try:
                outcomes = await asyncio.to_thread(self.engine.write_many, [(ns, it, m) for ns, it, m, _ in batch])
            except Exception as e:  # unexpected: every writer of the batch gets it (and the server logs it)
                outcomes = [e] * len(batch)
            for (*_, future), outcome in zip(batch, outcomes, strict=True):
                if future.done():  # the client went away
                    continue
                if isinstance(outcome, Exception):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)
