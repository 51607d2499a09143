"""What sizes a kernel's grid: the device's streaming multiprocessors."""

from __future__ import annotations

import functools

import torch


@functools.lru_cache
def multiprocessors(device: torch.device) -> int:
    """Streaming multiprocessors of a CUDA device (a persistent grid's width); 4 elsewhere (the interpreter)."""
    return torch.cuda.get_device_properties(device).multi_processor_count if device.type == "cuda" else 4
