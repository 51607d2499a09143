"""Rotary position embedding (after an optional per-head RMSNorm) in one Triton kernel: one program per
(token, head) row. Eager torch spends thirteen kernels on a Qwen3 query or key (the norm's eight, the
rotation's five); the rounding is the oracle's (each product rounded to x's dtype, then their sum). The kernel is
compiled without FMA contraction: with it, the compiler multiplies two bf16 operands in bf16 and then fuses that
product into the sum's FMA, skipping its rounding (bf16 outputs then differed from the oracle's on an H100)."""

from __future__ import annotations

import triton
import triton.language as tl
from torch import Tensor

from msa.kernels import checks


@triton.jit
def _rope(x, cos, sin, weight, out, heads, D, eps, NORM: tl.constexpr, BLOCK: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)  # token * heads + head
    tok = row // heads
    half = D // 2
    cols = tl.arange(0, BLOCK)
    ok = cols < D
    partner = tl.where(cols < half, cols + half, cols - half)  # rotate_half reads the other half
    a = tl.load(x + row * D + cols, mask=ok, other=0.0).to(tl.float32)
    b = tl.load(x + row * D + partner, mask=ok, other=0.0).to(tl.float32)
    if NORM:
        rstd = 1.0 / tl.sqrt(tl.sum(a * a, axis=0) / D + eps)
        wa = tl.load(weight + cols, mask=ok, other=0.0).to(tl.float32)
        wb = tl.load(weight + partner, mask=ok, other=0.0).to(tl.float32)
        a = (wa * (a * rstd).to(out.dtype.element_ty).to(tl.float32)).to(out.dtype.element_ty).to(tl.float32)
        b = (wb * (b * rstd).to(out.dtype.element_ty).to(tl.float32)).to(out.dtype.element_ty).to(tl.float32)
    b = tl.where(cols < half, -b, b)
    c = tl.load(cos + tok * D + cols, mask=ok, other=0.0).to(tl.float32)
    s = tl.load(sin + tok * D + cols, mask=ok, other=0.0).to(tl.float32)
    first = (a * c).to(out.dtype.element_ty).to(tl.float32)
    second = (b * s).to(out.dtype.element_ty).to(tl.float32)
    tl.store(out + row * D + cols, (first + second).to(out.dtype.element_ty), mask=ok)


def rope(x: Tensor, cos: Tensor, sin: Tensor, norm_weight: Tensor | None = None, eps: float = 0.0) -> Tensor:
    """As `naive.rope`: x [T, heads, D], cos / sin [T, D] and norm_weight [D] in x's dtype."""
    shapes = checks.Shapes()
    shapes.check("x", x, "T heads D")
    shapes.check("cos", cos, "T D")
    shapes.check("sin", sin, "T D")
    if norm_weight is not None:
        shapes.check("norm_weight", norm_weight, "D")
    if shapes["D"] % 2:
        raise ValueError(f"x: expected an even head dimension D to rotate its halves, got D = {shapes['D']}")
    checks.dtype("x", x, checks.FLOATS)
    for name, t in (("cos", cos), ("sin", sin), ("norm_weight", norm_weight)):
        if t is not None:
            checks.dtype(name, t, (x.dtype,), like="x")
    checks.launch_device("x", x)
    for name, t in (("cos", cos), ("sin", sin), ("norm_weight", norm_weight)):
        if t is not None:
            checks.same_device(name, t, "x", x.device)
    x = x.contiguous()
    out = x.new_empty(x.shape)
    t, heads, d = x.shape
    if t * heads:
        weight = x if norm_weight is None else norm_weight.contiguous()  # not read without a norm
        _rope[(t * heads,)](x, cos.contiguous(), sin.contiguous(), weight, out, heads, d, eps,
                            NORM=norm_weight is not None, BLOCK=triton.next_power_of_2(d), num_warps=1,
                            enable_fp_fusion=False)
    return out
