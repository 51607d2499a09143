"""rope: rotary position embedding of per-head rows, after an optional per-head RMSNorm.

`rope` takes the Triton kernel (`fused.py`) for CUDA tensors in the kernel's dtypes when no gradient is wanted,
and the plain-torch oracle (`naive.py`) otherwise.
"""

import torch
from torch import Tensor

from msa.kernels.checks import FLOATS
from msa.kernels.rope import fused, naive


def rope(x: Tensor, cos: Tensor, sin: Tensor, norm_weight: Tensor | None = None, eps: float = 0.0) -> Tensor:
    """x [T, heads, D], cos / sin [T, D] -> the rotated rows (RMS-normalised first with `norm_weight` [D])."""
    tensors = [t for t in (x, cos, sin, norm_weight) if t is not None]
    wants_grad = torch.is_grad_enabled() and any(t.requires_grad for t in tensors)
    if x.is_cuda and x.dtype in FLOATS and all(t.dtype == x.dtype for t in tensors) and not wants_grad:
        return fused.rope(x, cos, sin, norm_weight, eps)
    return naive.rope(x, cos, sin, norm_weight, eps)


__all__ = ["rope"]
