"""The server's bounded pools: admission (run, wait, or RESOURCE_EXHAUSTED at once) and cancellation (the worker
is told, and its slot stays taken until it has returned)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from msa.memstore.errors import Overloaded
from msa.memstore.server.pools import Pool


def test_admission_runs_queues_then_refuses():
    async def main() -> None:
        pool, release = Pool("scan", workers=1, queue=1), threading.Event()
        first = asyncio.create_task(pool.run(release.wait))
        await asyncio.sleep(0.05)
        second = asyncio.create_task(pool.run(lambda: "second"))
        await asyncio.sleep(0.05)
        with pytest.raises(Overloaded):
            await pool.run(lambda: "third")
        release.set()
        assert await first is True and await second == "second"
        pool.close()

    asyncio.run(main())


def test_a_cancelled_call_is_told_and_holds_its_slot_until_its_worker_returns():
    async def main() -> None:
        pool, told, release = Pool("model", workers=1, queue=1), threading.Event(), threading.Event()

        def work(cancelled) -> None:  # stands for a prefill that checks between chunks
            while not cancelled():
                release.wait(0.01)
            told.set()
            release.wait()

        first = asyncio.create_task(pool.run(work, cancellable=True))
        await asyncio.sleep(0.05)
        second = asyncio.create_task(pool.run(lambda: "second"))
        first.cancel()
        await asyncio.sleep(0.2)
        assert told.is_set() and not first.done() and not second.done()  # the worker is still running
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await first
        assert await second == "second"
        pool.close()

    asyncio.run(main())
