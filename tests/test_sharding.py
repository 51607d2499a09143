"""Memory Parallel on CPUs (gloo): rank processes on loopback, a real store, the single-device index as
the oracle (tests/shard_driver.py runs rank 0)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from msa.memstore.index.selection import assign

ROOT = Path(__file__).resolve().parent.parent


def test_assignment_goes_to_the_lightest_rank_ties_to_the_lower():
    loads = [0, 0, 0]
    owner = assign([(0, 10), (1, 10), (2, 10), (3, 5), (4, 30), (5, 1)], 3, loads)
    assert owner == {0: 0, 1: 1, 2: 2, 3: 0, 4: 1, 5: 2}  # 4: ranks 1 and 2 tie at 10 bytes
    assert loads == [15, 40, 11]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_job(tmp_path: Path, world: int, *driver_args: str) -> subprocess.CompletedProcess:
    init = f"tcp://127.0.0.1:{free_port()}"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    ranks = [subprocess.Popen([sys.executable, "-m", "msa.memstore.index.parallel", "--init-method", init, "--rank",
                               str(r), "--world-size", str(world), "--timeout", "20"], env=env)
             for r in range(1, world)]
    extra = ["--kill", str(ranks[0].pid)] if "--kill" in driver_args else list(driver_args)
    try:
        done = subprocess.run([sys.executable, "-m", "tests.shard_driver", "--store", str(tmp_path / "store"),
                               "--init-method", init, "--world-size", str(world), *extra], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=240)
    finally:
        for p in ranks:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
    return done


@pytest.mark.parametrize(("world", "seed"), [(2, 1), (4, 2)])
def test_sharded_index_equals_the_single_device_oracle(tmp_path, world, seed):
    done = run_job(tmp_path, world, "--steps", "40", "--seed", str(seed))
    assert done.returncode == 0 and done.stdout.strip().endswith("OK"), done.stdout + done.stderr


def test_a_dead_rank_makes_queries_unavailable(tmp_path):
    done = run_job(tmp_path, 2, "--kill")
    assert done.returncode == 0 and done.stdout.strip().endswith("OK"), done.stdout + done.stderr
    assert "unavailable:" in done.stdout
