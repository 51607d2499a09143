"""Write batching inside the engine: concurrent writers share one prepared batch; each gets its own outcome,
and only once it is committed; the next batch is prepared while the previous one commits; a batch holds at most
`max_documents`; a lone writer goes at once without a window."""

from __future__ import annotations

import threading
import time

from msa.memstore.engine.write_batcher import WriteBatcher
from msa.memstore.errors import InvalidArgument


class Recorder:
    """A `prepare` that blocks its first call until released and records every batch it gets; its `commit`
    blocks while `hold_commit` is clear and records what it committed."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.committed: list[list[str]] = []
        self.release = threading.Event()
        self.hold_commit = threading.Event()
        self.hold_commit.set()

    def __call__(self, requests: list[tuple]) -> list:
        self.batches.append([ns for ns, _, _ in requests])
        if len(self.batches) == 1:
            self.release.wait(10)
        return [InvalidArgument(ns) if ns == "bad" else [ns] * len(items) for ns, items, _ in requests]

    def commit(self, prepared: list) -> list:
        self.hold_commit.wait(10)
        self.committed.append([o if isinstance(o, InvalidArgument) else o[0] for o in prepared])
        return prepared

    def batcher(self, **kwargs) -> WriteBatcher:
        return WriteBatcher(self, self.commit, **kwargs)


def write_all(batcher: WriteBatcher, requests: list[tuple], outcomes: dict) -> list[threading.Thread]:
    threads = [threading.Thread(target=lambda r=r: outcomes.__setitem__(r[0], batcher.write(r))) for r in requests]
    for t in threads:
        t.start()
    return threads


def test_writes_arriving_during_a_batch_go_together_with_their_own_outcomes():
    run = Recorder()
    batcher, outcomes = run.batcher(), {}
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
    batcher, outcomes = run.batcher(max_documents=3), {}
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

    assert isinstance(WriteBatcher(broken, list).write(("a", ["x"], "create")), ZeroDivisionError)
    assert isinstance(WriteBatcher(list, broken).write(("a", ["x"], "create")), ZeroDivisionError)


def test_a_lone_write_does_not_wait_without_a_window():
    run = Recorder()
    run.release.set()
    start = time.perf_counter()
    assert run.batcher().write(("a", ["x"], "create")) == ["a"]
    assert time.perf_counter() - start < 0.05
    start = time.perf_counter()
    assert run.batcher(window_s=0.2).write(("a", ["x"], "create")) == ["a"]
    assert time.perf_counter() - start >= 0.2


def test_the_next_batch_is_prepared_while_one_commits_and_nobody_returns_before_its_commit():
    run = Recorder()
    run.release.set()
    run.hold_commit.clear()
    batcher, outcomes = run.batcher(), {}
    first = write_all(batcher, [("a", ["x"], "create")], outcomes)
    while not run.batches:
        time.sleep(0.001)
    second = write_all(batcher, [("b", ["x"], "create")], outcomes)
    deadline = time.monotonic() + 10
    while len(run.batches) < 2 and time.monotonic() < deadline:  # prepared while "a" waits to commit
        time.sleep(0.001)
    assert run.batches == [["a"], ["b"]] and run.committed == []
    time.sleep(0.05)
    assert outcomes == {}  # prepared is not committed: no writer has returned
    run.hold_commit.set()
    for t in first + second:
        t.join(10)
    assert run.committed == [["a"], ["b"]] and outcomes == {"a": ["a"], "b": ["b"]}


def test_close_commits_what_is_prepared():
    run = Recorder()
    run.release.set()
    batcher = run.batcher()
    assert batcher.write(("a", ["x"], "create")) == ["a"]
    batcher.close()
    assert batcher.committer is None and run.committed == [["a"]]
