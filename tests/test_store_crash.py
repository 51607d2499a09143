"""Crash safety: a writer killed with SIGKILL at random moments loses no acknowledged document and
leaves no partial one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from msa.memstore.storage.store import Store
from tests.crash_writer import run_trials
from tests.store_helpers import BINDING, doc

ROOT = Path(__file__).resolve().parents[1]


def test_acknowledged_writes_survive_kill_9(tmp_path):
    assert run_trials(tmp_path / "store", trials=20) > 20


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
