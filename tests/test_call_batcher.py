"""Call batches (routing, say): a lone question goes at once; questions arriving during a call go together in the next,
grouped by kind, each getting its own answer; an error reaches exactly the questions of its call."""

from __future__ import annotations

import threading
import time

import pytest

from msa.model.call_batcher import CallBatcher
from msa.model.prefill import Cancelled


class Blocking:
    """A routing call that holds the first call open until released; records every call's items."""

    def __init__(self) -> None:
        self.release, self.started = threading.Event(), threading.Event()
        self.calls: list[list] = []

    def __call__(self, items: list) -> list:
        self.calls.append(list(items))
        self.started.set()
        self.release.wait(10)
        if any(item == "boom" for item in items):
            raise RuntimeError("routing failed")
        return [item * 10 for item in items]


def ask(batcher: CallBatcher, key, item, run, results: dict) -> None:
    try:
        results[item] = batcher.run(key, item, run)
    except RuntimeError as e:
        results[item] = e


def during_a_call(batcher: CallBatcher, run: Blocking, first: tuple, others: list[tuple]) -> dict:
    """Ask `first` (key, item), hold its call open until every one of `others` waits, release -> results."""
    results: dict = {}
    threads = [threading.Thread(target=ask, args=(batcher, key, item, run, results)) for key, item in [first, *others]]
    threads[0].start()
    assert run.started.wait(10)
    for t in threads[1:]:
        t.start()
    deadline = time.monotonic() + 10
    while len(batcher.waiting) < len(others):
        assert time.monotonic() < deadline, "threads never queued"
        time.sleep(0.001)
    run.release.set()
    for t in threads:
        t.join(10)
    return results


def test_a_lone_question_goes_at_once():
    batcher = CallBatcher()
    assert batcher.run("k", 3, lambda items: [i + 1 for i in items]) == 4
    assert (batcher.calls, batcher.questions) == (1, 1)


def test_questions_arriving_during_a_call_go_together_by_kind():
    batcher, run = CallBatcher(), Blocking()
    results = during_a_call(batcher, run, ("a", 1), [("a" if i < 5 else "b", 100 + i) for i in range(7)])
    assert results == {i: i * 10 for i in [1, *range(100, 107)]}
    assert sorted(map(sorted, run.calls)) == [[1], [100, 101, 102, 103, 104], [105, 106]]
    assert (batcher.calls, batcher.questions) == (3, 8)


def test_a_call_takes_at_most_max_batch_questions():
    batcher, run = CallBatcher(max_batch=2), Blocking()
    results = during_a_call(batcher, run, ("a", 1), [("a", i) for i in range(2, 6)])
    assert results == {i: i * 10 for i in range(1, 6)}
    assert max(len(c) for c in run.calls) == 2 and batcher.questions == 5


def test_an_error_reaches_the_questions_of_its_call_only():
    batcher, run = CallBatcher(), Blocking()
    results = during_a_call(batcher, run, ("a", 1), [("b", "boom"), ("b", 7)])
    assert results[1] == 10
    assert isinstance(results["boom"], RuntimeError) and isinstance(results[7], RuntimeError)
    assert batcher.run("a", 2, run) == 20  # the batcher goes on


def test_many_threads_each_get_their_own_answer():
    threads = 16
    batcher = CallBatcher(max_batch=4)
    results: dict = {}
    slow = lambda items: [time.sleep(0.002) or i * 10 for i in items]  # noqa: E731
    pool = [threading.Thread(target=ask, args=(batcher, i % 3, i, slow, results)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(10)
    assert results == {i: i * 10 for i in range(threads)}
    assert batcher.questions == threads


def test_a_waiting_item_that_is_cancelled_is_withdrawn():
    """A caller that gives up while another call runs leaves at once (within a poll), not after that call."""
    batcher, run = CallBatcher(), Blocking()
    first = threading.Thread(target=ask, args=(batcher, "a", 1, run, {}))
    first.start()
    assert run.started.wait(10)
    gave_up = threading.Event()
    start = time.monotonic()
    with pytest.raises(Cancelled):
        threading.Timer(0.1, gave_up.set).start()
        batcher.run("a", 2, run, cancelled=gave_up.is_set)
    assert time.monotonic() - start < 5 and batcher.waiting == []
    run.release.set()
    first.join(10)
    assert run.calls == [[1]] and batcher.questions == 1
