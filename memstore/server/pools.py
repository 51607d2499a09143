"""Bounded pools for the server's blocking work, one per kind of cost, so that cheap calls keep their latency
while expensive ones queue: at most `workers` calls of a pool run (on its own threads) and at most `queue`
wait; beyond that `Overloaded` (RESOURCE_EXHAUSTED) at once. A call whose caller goes away (deadline,
disconnect, shutdown) is told through its `cancelled` callback, and its slot stays taken until its thread
has returned: the bound counts the threads actually working, not the callers still waiting."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from msa.memstore.errors import Overloaded

T = TypeVar("T")


class Pool:
    def __init__(self, name: str, workers: int, queue: int, what: str = "calls") -> None:
        self.name, self.queue, self.what, self.waiting = name, queue, what, 0
        self.semaphore = asyncio.Semaphore(workers)
        self.executor = ThreadPoolExecutor(workers, thread_name_prefix=f"msa-{name}")

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Admission: a free worker, else a place in the queue, else Overloaded."""
        if self.semaphore.locked() and self.waiting >= self.queue:
            raise Overloaded(f"{self.waiting} {self.what} are already waiting; retry with backoff")
        self.waiting += 1
        try:
            await self.semaphore.acquire()
        finally:
            self.waiting -= 1
        try:
            yield
        finally:
            self.semaphore.release()

    async def run(self, fn: Callable[..., T], *args: Any, cancellable: bool = False) -> T:
        """fn(*args) on a worker once admitted (with `cancelled=` a callable when `cancellable`)."""
        async with self.slot():
            stop = threading.Event()
            call = (lambda: fn(*args, cancelled=stop.is_set)) if cancellable else (lambda: fn(*args))
            future = asyncio.get_running_loop().run_in_executor(self.executor, call)
            try:
                return await asyncio.shield(future)
            except asyncio.CancelledError:
                stop.set()
                await settled(future)
                raise

    async def stream(self, fn: Callable[..., Iterator[T]], *args: Any, **kwargs: Any) -> AsyncIterator[T]:
        """The items of fn(*args, cancelled=..., **kwargs), made on a worker once admitted, as they come. When
        the consumer leaves (cancelled or closed) the worker is told and stops at its next item or check."""
        async with self.slot():
            loop, queue, stop, done = asyncio.get_running_loop(), asyncio.Queue(), threading.Event(), object()

            def produce() -> None:
                try:
                    items = fn(*args, cancelled=stop.is_set, **kwargs)
                    try:
                        for item in items:
                            loop.call_soon_threadsafe(queue.put_nowait, item)
                            if stop.is_set():
                                break
                    finally:
                        items.close()
                except BaseException as e:  # handed to the consumer, which raises it
                    loop.call_soon_threadsafe(queue.put_nowait, e)
                finally:
                    loop.call_soon_threadsafe(queue.put_nowait, done)

            worker = loop.run_in_executor(self.executor, produce)
            try:
                while (item := await queue.get()) is not done:
                    if isinstance(item, BaseException):
                        raise item
                    yield item
            finally:
                stop.set()
                await settled(worker)

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


@dataclass(frozen=True)
class Pools:
    """The server's pools. Cheap point reads (Get) need none: they run on the default executor, which no
    long call occupies."""

    questions: Pool  # the model: Query and Retrieve
    scans: Pool  # work that grows with a namespace or the store: List, ListNamespaces, Stats, DeleteNamespace
    writes: Pool  # calls that wait on the store's one writer: Update, Delete, CreateNamespace
    ingest: Pool  # Write: a thread per call, since the engine encodes concurrent writes together

    def close(self) -> None:
        for pool in (self.questions, self.scans, self.writes, self.ingest):
            pool.close()


async def settled(future: asyncio.Future) -> None:
    """Wait until a worker's future is done, whatever its outcome (which nobody wants any more)."""
    await asyncio.wait([future])
    if not future.cancelled():
        future.exception()  # retrieved: not logged as "never retrieved"
