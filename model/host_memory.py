"""Host memory for CPU forwards: keep freed blocks in the process instead of handing them back to the OS.

glibc serves blocks above a threshold (128 KiB, rising to at most 32 MiB) with mmap and unmaps them when they
are freed, so every large temporary of a CPU forward (a layer's activations: megabytes for a prompt or a batch
of documents) is faulted in again page by page and zeroed by the kernel. On two cores that made a 54 MB
temporary cost 20 ms to allocate and document encoding 30% slower (docs/benchmarks.md). `keep_freed_memory`
raises the mmap and trim thresholds of the whole process, so freed blocks stay in the heap for the next
forward: up to `TRIM_THRESHOLD` of free heap is kept rather than handed back. It also caps the arenas at one:
a thread's own arena (heaps of at most 64 MiB) maps every larger block itself and unmaps it when freed, which
made encoding on a worker thread (a server's or `msa load`'s writes) 12% slower than on the main thread
(docs/benchmarks.md). Small blocks still come from each thread's cache without the arena's lock.
"""

from __future__ import annotations

import ctypes
import logging
import os
import platform
import threading

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -3, -8  # mallopt parameters (glibc's malloc.h)
MMAP_THRESHOLD = 1 << 30  # blocks below this come from the main heap (above it, mmap: one-off giants)
TRIM_THRESHOLD = 1 << 30  # free heap kept before it is handed back
OPT_OUT = "MSA_RETURN_FREED_MEMORY"  # set to 1 to keep glibc's defaults

_lock = threading.Lock()
_applied: bool | None = None


def keep_freed_memory() -> bool:
    """Once per process, where the C library is glibc and `MSA_RETURN_FREED_MEMORY` is not 1 -> whether glibc
    took both thresholds and the arena cap. Called when `msa.model` is imported: arenas that threads made before
    the cap may still be handed to new threads."""
    global _applied
    with _lock:
        if _applied is None:
            _applied = os.environ.get(OPT_OUT) != "1" and platform.libc_ver()[0] == "glibc" and all(
                [_mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD), _mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD),
                 _mallopt(M_ARENA_MAX, 1)])
            log.info("freed host memory kept for the next forward: %s", _applied)
        return _applied


def _mallopt(parameter: int, value: int) -> bool:
    if not 0 <= value < 1 << 31:  # mallopt takes a C int: a larger value would wrap around silently
        raise ValueError(f"mallopt value {value} does not fit a C int")
    try:
        return bool(ctypes.CDLL(None).mallopt(ctypes.c_int(parameter), ctypes.c_int(value)))
    except (OSError, AttributeError):
        return False
