"""The chunk-pooling kernel against the float64 oracle on odd documents and chunk sizes; under the
Triton interpreter on CPU, natively on a GPU; outputs start as NaN so an unwritten element shows."""

from __future__ import annotations

import pytest
import torch
import triton

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


@pytest.mark.parametrize(("dtype", "block_t"), [(torch.float64, 128), (torch.float32, 128), (torch.bfloat16, 64),
                                                (torch.float64, 1024), (torch.float16, 256)])
def test_configurations_tried_fit_in_shared_memory(dtype, block_t):
    """A GPU autotunes only tiles that fit (float64 chunks of 100 tokens once needed 1.5 MB on an H200 and no
    configuration could launch); the widest fitting feature block is kept."""
    configs = [triton.Config({"BLOCK_F": f, "PER_PROGRAM": 2, "STAGES": st}, num_warps=4)
               for f, st in ((512, 4), (512, 3), (256, 2))]
    x = torch.empty(0, dtype=dtype)
    kept = fused._fitting(configs, {}, x=x, BLOCK_T=block_t)
    assert kept
    for c in kept:
        stages = max(c.kwargs["STAGES"] - 1, 1)
        assert block_t * x.element_size() * c.kwargs["BLOCK_F"] * stages <= fused.SHARED_BYTES
    widest = max(c.kwargs["BLOCK_F"] for c in kept)
    assert widest == 512 or block_t * x.element_size() * widest * 2 > fused.SHARED_BYTES
