"""Write batching inside the engine: concurrent writers share one `write_many` call; each gets its own
outcome; a batch holds at most `max_documents`; a lone writer goes at once without a window."""

from __future__ import annotations

import threading
import time

from msa.memstore.engine.write_batcher import WriteBatcher
from msa.memstore.errors import InvalidArgument


class Recorder:
    """A `write_many` that blocks its first call until released and records every batch it gets."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.release = threading.Event()

    def __call__(self, requests: list[tuple]) -> list:
        self.batches.append([ns for ns, _, _ in requests])
        if len(self.batches) == 1:
            self.release.wait(10)
        return [InvalidArgument(ns) if ns == "bad" else [ns] * len(items) for ns, items, _ in requests]


def write_all(batcher: WriteBatcher, requests: list[tuple], outcomes: dict) -> list[threading.Thread]:
    threads = [threading.Thread(target=lambda r=r: outcomes.__setitem__(r[0], batcher.write(r))) for r in requests]
    for t in threads:
        t.start()
    return threads


def test_writes_arriving_during_a_batch_go_together_with_their_own_outcomes():
    run = Recorder()
    batcher, outcomes = WriteBatcher(run), {}
    first = write_all(batcher, [("a", ["x"], "create")], outcomes)
    while not run.batches:
        time.sleep(0.001)
    others = write_all(batcher, [("b", ["x", "y"], "create"), ("bad", ["x"], "create"), ("c", ["x"], "create")],
                       outcomes)
    while len(batcher.pending) < 3:
        time.sleep(0.001)
    run.release.set()
    for t in first + others:
        t.join(10)
    assert run.batches[0] == ["a"] and sorted(run.batches[1]) == ["b", "bad", "c"] and len(run.batches) == 2
    assert outcomes["a"] == ["a"] and outcomes["b"] == ["b", "b"] and outcomes["c"] == ["c"]
    assert isinstance(outcomes["bad"], InvalidArgument)
    assert batcher.batches == 2


def test_a_batch_holds_at_most_max_documents():
    run = Recorder()
    batcher, outcomes = WriteBatcher(run, max_documents=3), {}
    first = write_all(batcher, [("a", ["x"], "create")], outcomes)
    while not run.batches:
        time.sleep(0.001)
    others = write_all(batcher, [(f"n{i}", ["x", "y"], "create") for i in range(3)], outcomes)
    while len(batcher.pending) < 3:
        time.sleep(0.001)
    run.release.set()
    for t in first + others:
        t.join(10)
    assert [len(b) for b in run.batches] == [1, 1, 1, 1]  # two writes of two documents exceed three
    assert all(outcomes[f"n{i}"] == [f"n{i}"] * 2 for i in range(3))


def test_an_unexpected_error_reaches_every_writer_of_its_batch():
    def broken(requests):
        raise ZeroDivisionError

    assert isinstance(WriteBatcher(broken).write(("a", ["x"], "create")), ZeroDivisionError)


def test_a_lone_write_does_not_wait_without_a_window():
    run = Recorder()
    run.release.set()
    start = time.perf_counter()
    assert WriteBatcher(run).write(("a", ["x"], "create")) == ["a"]
    assert time.perf_counter() - start < 0.05
    start = time.perf_counter()
    assert WriteBatcher(run, window_s=0.2).write(("a", ["x"], "create")) == ["a"]
    assert time.perf_counter() - start >= 0.2
