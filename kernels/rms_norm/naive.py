"""RMSNorm in plain torch (the oracle, the CPU path and the path of anything that needs a gradient)."""

from __future__ import annotations

import torch
from torch import Tensor


def rms_norm(x: Tensor, weight: Tensor, eps: float) -> Tensor:
    """x [..., N] -> weight * (x / rms(x)) over the last dimension: statistics in fp32, the weight applied in x's
    dtype (as the published models were trained)."""
    xf = x.float()
    xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)
    return weight * xf.to(x.dtype)
