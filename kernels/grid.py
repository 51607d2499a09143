"""What sizes a kernel's grid (the device's streaming multiprocessors), and what guards an autotuned launch."""

from __future__ import annotations

import functools
import threading

import torch


@functools.lru_cache
def multiprocessors(device: torch.device) -> int:
    """Streaming multiprocessors of a CUDA device (a persistent grid's width); 4 elsewhere (the interpreter)."""
    return torch.cuda.get_device_properties(device).multi_processor_count if device.type == "cuda" else 4


AUTOTUNE_LOCK = threading.Lock()
"""Held around every launch of an autotuned kernel: Triton's autotuner is not thread-safe (concurrent first calls
of one key both benchmark and one reads the cache entry the other has not written yet: "'NoneType' object is not
a mapping"). Questions route from several threads (a packed prefill's routing calls); an uncontended lock costs
well under a microsecond."""
