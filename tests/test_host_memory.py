"""Freed host memory is kept for the next CPU forward (`model/host_memory.py`): a large block freed stays
resident instead of being unmapped, unless MSA_RETURN_FREED_MEMORY=1. Checked in a fresh process each, through
/proc (Linux with glibc; skipped elsewhere)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = """
import sys
import threading
import torch
from msa.model.host_memory import keep_freed_memory

def rss():
    fields = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
    return int(fields["VmRSS"].split()[0]) * 1024

def fill_and_free():
    block = torch.ones(96 << 20, dtype=torch.uint8)  # faulted in by the fill
    del block

kept = keep_freed_memory()
before = rss()
if sys.argv[1] == "worker":  # a thread's own arena would map a block this large and unmap it when freed
    worker = threading.Thread(target=fill_and_free)
    worker.start()
    worker.join()
else:
    fill_and_free()
print(int(kept), rss() - before)
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists() or sys.platform != "linux", reason="needs Linux /proc")
@pytest.mark.parametrize("thread", ["main", "worker"])
@pytest.mark.parametrize("opt_out", [False, True])
def test_a_freed_block_stays_resident_unless_opted_out(opt_out, thread):
    env = {k: v for k, v in os.environ.items()  # nothing else that tunes malloc or replaces it
           if k not in ("MSA_RETURN_FREED_MEMORY", "GLIBC_TUNABLES", "LD_PRELOAD") and not k.startswith("MALLOC_")}
    if opt_out:
        env["MSA_RETURN_FREED_MEMORY"] = "1"
    done = subprocess.run([sys.executable, "-c", SCRIPT, thread], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    kept, grown = map(int, done.stdout.split())
    if opt_out:
        assert not kept and grown < 32 << 20  # unmapped on free, as glibc does by default
    else:
        if platform.libc_ver()[0] != "glibc":
            pytest.skip("the C library is not glibc")
        assert kept
        assert grown >= 90 << 20  # still resident: the next forward reuses it without faulting pages in
