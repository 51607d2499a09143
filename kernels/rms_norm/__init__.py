"""rms_norm: RMSNorm over the last dimension.

`rms_norm` takes the Triton kernel (`fused.py`) for CUDA tensors in the kernel's dtypes when no gradient is
wanted (prompts, decoding steps, encoding), and the plain-torch oracle (`naive.py`) otherwise.
"""

import torch
from torch import Tensor

from msa.kernels.checks import FLOATS
from msa.kernels.rms_norm import fused, naive


def rms_norm(x: Tensor, weight: Tensor, eps: float) -> Tensor:
    """x [..., N], weight [N] -> weight * x / rms(x) (statistics in fp32)."""
    wants_grad = torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad)
    if x.is_cuda and x.dtype in FLOATS and weight.dtype == x.dtype and not wants_grad:
        return fused.rms_norm(x, weight, eps)
    return naive.rms_norm(x, weight, eps)


__all__ = ["rms_norm"]
