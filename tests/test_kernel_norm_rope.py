"""RMSNorm and (head-normed) RoPE kernels against their oracles: in float64 on the same rounded inputs, and against
the oracle in the kernels' own dtype (the same roundings); odd sizes; under the Triton interpreter on CPU, natively
on a GPU."""

from __future__ import annotations

import pytest
import torch

from msa.kernels import rms_norm as rms_norm_op
from msa.kernels import rope as rope_op
from msa.kernels.rms_norm import fused as norm_fused
from msa.kernels.rms_norm import naive as norm_naive
from msa.kernels.rope import fused as rope_fused
from msa.kernels.rope import naive as rope_naive

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
DTYPES = [torch.float32, torch.float16, pytest.param(torch.bfloat16, marks=pytest.mark.gpu)]
TOL = {torch.float32: 1e-5, torch.float16: 2e-3, torch.bfloat16: 1.6e-2}  # relative to the largest magnitude


def close(got: torch.Tensor, want: torch.Tensor, tol: float) -> bool:
    return bool((got.cpu().double() - want.double()).abs().max() <= tol * want.double().abs().max())


def same_roundings(got: torch.Tensor, want: torch.Tensor) -> bool:
    """In half precision the kernel rounds where the oracle does: all but a few elements (a last bit of the fp32
    statistics) come out identical; a rounding skipped or added changes about a quarter of them."""
    if want.dtype == torch.float32:
        return close(got, want, 4 * 2 ** -22)
    return bool((got.cpu() == want).double().mean() >= 0.99)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 576), (7, 64), (3, 5, 128), (2, 2560), (4, 37)])
def test_rms_norm_matches_its_oracle(dtype, shape):
    gen = torch.Generator().manual_seed(sum(shape))
    x = (torch.randn(shape, generator=gen) * 3).to(dtype)
    w = (1 + 0.1 * torch.randn(shape[-1], generator=gen)).to(dtype)
    got = norm_fused.rms_norm(x.to(DEVICE), w.to(DEVICE), 1e-6)
    assert got.dtype == dtype and got.shape == x.shape
    assert close(got, norm_naive.rms_norm(x.double(), w.double(), 1e-6), TOL[dtype])
    assert same_roundings(got, norm_naive.rms_norm(x, w, 1e-6))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("tokens", "heads", "dim"), [(1, 32, 128), (5, 9, 64), (3, 3, 6), (17, 2, 16)])
@pytest.mark.parametrize("normed", [False, True])
def test_rope_matches_its_oracle(dtype, tokens, heads, dim, normed):
    gen = torch.Generator().manual_seed(tokens * heads + dim)
    x = (torch.randn(tokens, heads, dim, generator=gen) * 2).to(dtype)
    angles = torch.rand(tokens, dim // 2, generator=gen) * 100
    cos, sin = (torch.cat([f(angles)] * 2, dim=-1).to(dtype) for f in (torch.cos, torch.sin))
    w = (1 + 0.1 * torch.randn(dim, generator=gen)).to(dtype) if normed else None
    got = rope_fused.rope(*(t.to(DEVICE) for t in (x, cos, sin)), None if w is None else w.to(DEVICE), 1e-6)
    assert got.dtype == dtype and got.shape == x.shape
    wd = None if w is None else w.double()
    assert close(got, rope_naive.rope(x.double(), cos.double(), sin.double(), wd, 1e-6), TOL[dtype])
    assert same_roundings(got, rope_naive.rope(x, cos, sin, w, 1e-6))


def test_the_rotation_is_rotate_half():
    """Hand-computed: D = 4, x = [1, 2, 3, 4], angle 90 degrees everywhere -> [-3, -4, 1, 2]."""
    x = torch.tensor([[[1.0, 2.0, 3.0, 4.0]]], device=DEVICE)
    cos, sin = torch.zeros(1, 4, device=DEVICE), torch.ones(1, 4, device=DEVICE)
    assert rope_fused.rope(x, cos, sin).cpu().tolist() == [[[-3.0, -4.0, 1.0, 2.0]]]


def test_a_gradient_takes_the_differentiable_path():
    x = torch.randn(3, 2, 8, requires_grad=True)
    cos, sin, w = torch.ones(3, 8), torch.zeros(3, 8), torch.ones(8)
    rope_op.rope(x, cos, sin, w, 1e-6).sum().backward()
    rms_norm_op.rms_norm(x, w, 1e-6).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


@pytest.mark.parametrize(("call", "error"), [
    (lambda: norm_fused.rms_norm(torch.ones(2, 8), torch.ones(7), 1e-6), ValueError),
    (lambda: norm_fused.rms_norm(torch.ones(2, 8), torch.ones(8, dtype=torch.float16), 1e-6), TypeError),
    (lambda: rope_fused.rope(torch.ones(2, 3, 5), torch.ones(2, 5), torch.ones(2, 5)), ValueError),
    (lambda: rope_fused.rope(torch.ones(2, 3, 8), torch.ones(3, 8), torch.ones(2, 8)), ValueError),
])
def test_bad_arguments_are_refused_before_launch(call, error):
    with pytest.raises(error):
        call()
