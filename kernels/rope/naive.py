"""Rotary position embedding of per-head rows in plain torch, after an optional per-head RMSNorm (Qwen3's q_norm
and k_norm): the oracle, the CPU path and the path of anything that needs a gradient."""

from __future__ import annotations

import torch
from torch import Tensor

from msa.kernels.rms_norm.naive import rms_norm


def rope(x: Tensor, cos: Tensor, sin: Tensor, norm_weight: Tensor | None = None, eps: float = 0.0) -> Tensor:
    """x [T, heads, D], cos / sin [T, D] in x's dtype -> x * cos + rotate_half(x) * sin (rotate-half convention:
    rotate_half(x) = [-x2, x1]), each product rounded to x's dtype as eager torch does; with `norm_weight` [D],
    x is RMS-normalised over D first."""
    if norm_weight is not None:
        x = rms_norm(x, norm_weight, eps)
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos[:, None, :] + rotated * sin[:, None, :]
