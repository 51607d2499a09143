"""Crash trials: a child process writes documents into a store forever, printing each id once its write
has returned (acknowledged); the parent kills it with SIGKILL at random moments and checks the store.

Child: python -m tests.crash_writer STORE SEED. Parent: `run_trials` (the CI test runs 20,
bench/crash_trials.py runs more)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from msa.memstore.storage.store import Store
from tests.store_helpers import BINDING, doc

ROOT = Path(__file__).resolve().parents[1]


def write_forever(path: str, seed: int) -> None:
    rng = random.Random(seed)
    store = Store(path, BINDING, create=True, map_size=1 << 20)  # small map: growth happens under fire
    if not store.list_namespaces()[0]:
        store.create_namespace("crash")
    i = 0
    while True:
        batch = [doc(f"s{seed}-{i + j}", "z" * rng.randint(1, 3000), seed=i + j) for j in range(rng.randint(1, 4))]
        if rng.random() < 0.2 and i:
            store.update("crash", f"s{seed}-{rng.randrange(i)}", metadata={"touched": str(i)})
        store.write("crash", batch, mode="upsert")
        for d in batch:
            print(d.id, flush=True)
        i += len(batch)


def run_trials(path: Path, trials: int, seed: int = 0) -> int:
    """Kill a writer `trials` times; after each, every acknowledged id must be present and the store
    sound. -> acknowledged documents in total."""
    rng = random.Random(seed)
    acked: list[str] = []
    for trial in range(trials):
        child = subprocess.Popen([sys.executable, "-m", "tests.crash_writer", str(path), str(seed * 10_000 + trial)],
                                 cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lines = []
        for _ in range(rng.randint(1, 40)):
            line = child.stdout.readline()
            if not line:
                raise AssertionError(f"writer exited early: {child.stderr.read()}")
            lines.append(line.strip())
        time.sleep(rng.uniform(0, 0.05))  # kill somewhere inside a later write
        os.kill(child.pid, signal.SIGKILL)
        rest, _ = child.communicate()
        acked += lines + rest.split()  # every id printed was acknowledged before the kill
        with Store(path, BINDING) as store:
            problems = store.check()
            assert not problems, f"trial {trial}: {problems[:3]}"
            present, token = set(), ""
            while True:
                page, token = store.list("crash", page_size=1000, page_token=token)
                present |= {d.id for d in page}
                if not token:
                    break
            missing = [i for i in acked if i not in present]
            assert not missing, f"trial {trial}: acknowledged but lost: {missing[:5]}"
            assert store.namespace("crash").documents == len(present), f"trial {trial}: count"
    return len(acked)


if __name__ == "__main__":
    write_forever(sys.argv[1], int(sys.argv[2]))
