"""RMSNorm in one Triton kernel: one program per row, the row read once and written once. Eager torch spends
eight kernels on it (cast, square, mean, add, rsqrt, multiply, cast, weight), a decoding step four norms per
layer; the rounding is the oracle's (the normalised row rounded to x's dtype, then the weight's product)."""

from __future__ import annotations

import triton
import triton.language as tl
from torch import Tensor

from msa.kernels import checks


@triton.jit
def _rms_norm(x, weight, out, N, eps, BLOCK: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    cols = tl.arange(0, BLOCK)
    ok = cols < N
    xf = tl.load(x + row * N + cols, mask=ok, other=0.0).to(tl.float32)
    rstd = 1.0 / tl.sqrt(tl.sum(xf * xf, axis=0) / N + eps)
    normed = (xf * rstd).to(out.dtype.element_ty).to(tl.float32)
    w = tl.load(weight + cols, mask=ok, other=0.0).to(tl.float32)
    tl.store(out + row * N + cols, (w * normed).to(out.dtype.element_ty), mask=ok)


def rms_norm(x: Tensor, weight: Tensor, eps: float) -> Tensor:
    """As `naive.rms_norm` for x [..., N] and weight [N] of x's dtype."""
    shapes = checks.Shapes()
    shapes.check("weight", weight, "N")
    if x.shape[-1:] != weight.shape:
        raise ValueError(f"x: expected a last dimension N = {weight.shape[0]} (from weight), got shape "
                         f"{tuple(x.shape)}")
    checks.dtype("x", x, checks.FLOATS)
    checks.dtype("weight", weight, (x.dtype,), like="x")
    checks.launch_device("x", x)
    checks.same_device("weight", weight, "x", x.device)
    x = x.contiguous()
    out = x.new_empty(x.shape)
    n = x.shape[-1]
    rows = x.numel() // max(n, 1)
    if rows:
        _rms_norm[(rows,)](x, weight.contiguous(), out, n, eps, BLOCK=triton.next_power_of_2(n),
                           num_warps=4 if n >= 1024 else 1)
    return out
