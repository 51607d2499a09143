"""The chunk-pooling kernel against the float64 oracle on odd documents and chunk sizes; under the
Triton interpreter on CPU, natively on a GPU; outputs start as NaN so an unwritten element shows."""

from __future__ import annotations

import pytest
import torch

from msa.kernels.chunk_pool import fused, naive

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
DTYPES = [torch.float64, torch.float32, torch.float16, pytest.param(torch.bfloat16, marks=pytest.mark.gpu)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("chunk_size", [1, 4, 64, 100])
@pytest.mark.parametrize(("lengths", "groups", "dim"),
                         [([1], 1, 16), ([63, 64, 65, 1, 130, 7], 3, 24), ([300, 5], 8, 128)])
def test_fused_chunk_pool_matches_float64(dtype, chunk_size, lengths, groups, dim):
    g = torch.Generator().manual_seed(sum(lengths) + chunk_size)
    cu = torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()])
    x = torch.randn(sum(lengths), groups, dim, generator=g).to(dtype)
    want, want_cu = naive.chunk_pool(x.double(), cu, chunk_size)
    cu_dev = cu.to(DEVICE)
    counts = naive.chunk_counts(cu[1:] - cu[:-1], chunk_size)
    out = torch.full((int(counts.sum()), groups, dim), float("nan"), dtype=dtype, device=DEVICE)
    got, got_cu = fused.chunk_pool(x.to(DEVICE), cu_dev, chunk_size, out=out)
    assert got_cu.tolist() == want_cu.tolist() and got.dtype == dtype and not got.isnan().any()
    # fp32 sums of up to chunk_size terms drift by at most chunk_size units of 2^-24 of the largest input
    # (summed in any order: a GPU's differs from the interpreter's); then the output's own rounding
    summing = min(chunk_size, max(lengths)) * 2.0 ** -24 * float(x.double().abs().max())
    rounding = {torch.float64: 0.0, torch.float32: 2.0 ** -24, torch.float16: 1e-3, torch.bfloat16: 8e-3}[dtype]
    assert (got.cpu().double() - want).abs().max() <= summing + rounding * max(1.0, float(want.abs().max()))
