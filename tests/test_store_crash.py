"""Crash safety: a writer killed with SIGKILL at random moments loses no acknowledged document and
leaves no partial one."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from msa.memstore.store import Store
from tests.store_helpers import BINDING, doc

TRIALS = 20
ROOT = Path(__file__).resolve().parents[1]


def test_acknowledged_writes_survive_kill_9(tmp_path):
    rng = random.Random(0)
    path = tmp_path / "store"
    acked: list[str] = []
    for trial in range(TRIALS):
        child = subprocess.Popen([sys.executable, "-m", "tests.crash_writer", str(path), str(trial)], cwd=ROOT,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        target = rng.randint(1, 40)
        lines = []
        while len(lines) < target:
            line = child.stdout.readline()
            if not line:
                raise AssertionError(f"writer exited early: {child.stderr.read()}")
            lines.append(line.strip())
        time.sleep(rng.uniform(0, 0.05))  # kill somewhere inside a later write
        os.kill(child.pid, signal.SIGKILL)
        rest, _ = child.communicate()
        acked += lines + rest.split()  # ids printed before the kill were acknowledged
        with Store(path, BINDING) as store:
            assert store.check() == [], f"trial {trial}"
            docs, token = [], ""
            while True:
                page, token = store.list("crash", page_size=1000, page_token=token)
                docs += page
                if not token:
                    break
            present = {d.id for d in docs}
            missing = [i for i in acked if i not in present]
            assert not missing, f"trial {trial}: acknowledged but lost: {missing[:5]}"
            assert store.namespace("crash").documents == len(present)


def test_a_full_disk_is_a_typed_error_and_the_store_stays_readable(tmp_path):
    """A file size limit (RLIMIT_FSIZE) stands in for a full disk: LMDB's write fails at commit."""
    done = subprocess.run([sys.executable, "-m", "tests.disk_full_writer", str(tmp_path / "s")], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    full, read = done.stdout.splitlines()
    assert full.startswith("FULL") and "no space left" in full
    assert read == "READ kept 0"  # readable, and `check` finds nothing wrong, in the same process
    with Store(tmp_path / "s", BINDING) as store:
        assert store.check() == [] and store.get("n", "first").text == "kept"
        store.write("n", [doc("after", "fits again")])  # writable once there is room
