"""Calls made at the same time go as one: questions routed over the same state of a namespace share a pass over
its routing keys (the route kernel reads a layer's keys once for all of them) and, over a sharded index, one round
through the ranks; questions prefilled on one model share a forward (`model/prefill_batch.py`).

No timer: a call that finds none of its batcher's running goes at once; one that arrives while a call runs
waits for it, then goes together with every call of the same kind that arrived meanwhile. So a lone
call pays nothing, and under load the batch grows to what arrives during one call.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from msa.model.prefill import IsCancelled, check

MAX_BATCH = 32  # items per call: bounds one call's memory and latency
POLL_S = 0.05  # how often a waiting item that can be cancelled looks


@dataclass(eq=False)
class _Request:
    key: Hashable
    item: Any
    run: Callable[[list[Any]], list[Any]]
    done: bool = False
    result: Any = None
    error: BaseException | None = None


class CallBatcher:
    def __init__(self, max_batch: int = MAX_BATCH) -> None:
        self.max_batch = max_batch
        self.cond = threading.Condition()
        self.busy = False
        self.waiting: list[_Request] = []
        self.calls = 0  # calls made so far (for tests and metrics)
        self.questions = 0  # items they took

    def run(self, key: Hashable, item: Any, run: Callable[[list[Any]], list[Any]],
            cancelled: IsCancelled | None = None) -> Any:
        """`run(items)` -> one result per item, for items of the same `key` (they can go in one call);
        -> this item's result, or its call's error raised. `cancelled` is checked while the item waits (every
        POLL_S): once it holds, the item is withdrawn and `Cancelled` raised."""
        mine = _Request(key, item, run)
        with self.cond:
            self.waiting.append(mine)
            while self.busy and not mine.done:
                self.cond.wait(POLL_S if cancelled is not None else None)
                if cancelled is not None and mine in self.waiting and cancelled():
                    self.waiting.remove(mine)
                    check(cancelled)
            if mine.done:
                return self._outcome(mine)
            self.busy = True
            batch = [r for r in self.waiting if r.key == key][: self.max_batch]
            if mine not in batch:  # more of its kind waited before it than one call takes
                batch = [*batch[:-1], mine]
            for r in batch:
                self.waiting.remove(r)
        try:
            results = mine.run([r.item for r in batch])
            error = None
        except BaseException as e:  # every question of the call gets it
            results, error = [None] * len(batch), e
        with self.cond:
            for r, result in zip(batch, results, strict=True):
                r.done, r.result, r.error = True, result, error
            self.busy = False
            self.calls += 1
            self.questions += len(batch)
            self.cond.notify_all()
        return self._outcome(mine)

    @staticmethod
    def _outcome(request: _Request) -> Any:
        if request.error is not None:
            raise request.error
        return request.result
