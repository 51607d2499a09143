"""Argument checks for kernel launchers: a Triton kernel reads raw pointers in the layout it assumes, so a
wrong shape, dtype, stride or device gives wrong numbers or out-of-bounds reads instead of an error. Each
check raises naming the argument, what was expected and what was given (TypeError for dtypes, else
ValueError); shapes and dtypes need no device, so they are testable on any machine."""

from __future__ import annotations

import functools
import os

import torch
from torch import Tensor

FLOATS = (torch.float32, torch.float16, torch.bfloat16)  # what the kernels are tested in
INDICES = (torch.int32, torch.int64)


class Shapes:
    """Sizes named across one launch's arguments: the first argument that shows a name fixes its size, every
    later one must agree (a layout "L G D" names the dimensions of a 3-D tensor); `free` names may differ
    between arguments (each question's own token count, say)."""

    def __init__(self, free: tuple[str, ...] = ()) -> None:
        self.free = free
        self.sizes: dict[str, tuple[int, str]] = {}  # dimension name -> (size, the argument that fixed it)

    def fix(self, dim: str, size: int, source: str) -> None:
        """Fix a dimension from something other than a tensor's shape (a count computed on the host)."""
        self.sizes[dim] = (size, source)

    def check(self, name: str, t: Tensor, layout: str) -> None:
        dims, shape = _dims(layout), t.shape
        if len(shape) != len(dims):
            raise ValueError(f"{name}: expected a {len(dims)}-D tensor [{', '.join(dims)}], got shape {tuple(shape)}")
        for dim, size in zip(dims, shape, strict=True):
            known = self.sizes.get(dim)
            if known is None:
                if dim not in self.free:
                    self.sizes[dim] = (size, name)
            elif size != known[0]:
                raise ValueError(f"{name}: expected shape [{', '.join(dims)}] with {dim} = {known[0]} (from "
                                 f"{known[1]}), got shape {tuple(shape)}")

    def __getitem__(self, dim: str) -> int:
        return self.sizes[dim][0]


@functools.lru_cache(maxsize=64)
def _dims(layout: str) -> tuple[str, ...]:
    """A layout's dimension names (launchers check on every call: split each layout once)."""
    return tuple(layout.split())


def dtype(name: str, t: Tensor, allowed: tuple[torch.dtype, ...], like: str = "") -> None:
    """`like` names the argument whose dtype this one must share."""
    if t.dtype not in allowed:
        source = f" (as {like})" if like else ""
        raise TypeError(f"{name}: expected dtype {' or '.join(str(d) for d in allowed)}{source}, got {t.dtype}")


def contiguous(name: str, t: Tensor) -> None:
    """For outputs the kernel writes at row-major offsets (inputs are made contiguous by their launcher)."""
    if not t.is_contiguous():
        raise ValueError(f"{name}: expected contiguous strides {_row_major(t.shape)}, got {t.stride()}")


def _row_major(shape: torch.Size) -> tuple[int, ...]:
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step)
        step *= max(size, 1)
    return tuple(reversed(strides))


def launch_device(name: str, t: Tensor) -> None:
    """Triton launches on CUDA tensors, or on host tensors while its interpreter runs (the tests on CPU)."""
    device = t.device
    if device.type != "cuda" and not (device.type == "cpu" and os.environ.get("TRITON_INTERPRET") == "1"):
        raise ValueError(f"{name}: expected a CUDA tensor, got one on {device}")


def same_device(name: str, t: Tensor, like: str, device: torch.device) -> None:
    if t.device != device:
        raise ValueError(f"{name}: expected a tensor on {device} (as {like}), got one on {t.device}")
