"""The sparse attention kernel against a float64 softmax reference written out here, on odd shapes, decode
and prefill, with and without memory rows; under the Triton interpreter on CPU, natively on a GPU. Outputs
start as NaN so an unwritten element shows."""

from __future__ import annotations

import pytest
import torch

from msa.kernels.sparse_attn import fused, naive
from msa.kernels.sparse_attn.naive import MemoryRows

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
DTYPES = [torch.float32, torch.float16, pytest.param(torch.bfloat16, marks=pytest.mark.gpu)]
TOL = {torch.float32: 2e-5, torch.float16: 4e-3, torch.bfloat16: 3e-2}  # inputs' and P's rounding


def reference(q, k, v, scale, pool_k, pool_v, rows):
    """Softmax attention in float64: every memory row visible, local keys bottom-right causal."""
    q, k, v = q.double(), k.double(), v.double()
    keys = torch.cat([pool_k.double()[rows], k])  # [P + L, G, D]
    values = torch.cat([pool_v.double()[rows], v])
    tq, h, _ = q.shape
    p, length, g = rows.shape[0], k.shape[0], k.shape[1]
    keys, values = keys.repeat_interleave(h // g, 1), values.repeat_interleave(h // g, 1)  # [T, H, D]
    s = torch.einsum("thd,nhd->htn", q, keys) * scale
    j = torch.arange(p + length)[None, :]
    i = torch.arange(tq)[:, None]
    visible = (j < p) | (j - p <= length - tq + i)  # [Tq, P + L]
    s = s.masked_fill(~visible, float("-inf"))
    return torch.einsum("htn,nhd->thd", s.softmax(-1), values)


CASES = [  # (tokens, heads, groups, dim, local, pool, selected)
    (1, 4, 2, 16, 5, 10, 3),  # decode, few keys
    (1, 32, 8, 128, 300, 200, 128),  # decode, MSA-4B heads, split over the keys
    (1, 6, 3, 24, 131, 50, 0),  # no memory rows
    (7, 6, 3, 24, 40, 50, 17),  # prefill after a cache
    (33, 4, 4, 16, 33, 9, 9),  # prefill from an empty cache, every pool row
    (70, 8, 2, 64, 90, 40, 23),  # several row blocks
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("tq", "h", "g", "d", "length", "n", "p"), CASES)
def test_fused_sparse_attention_matches_float64(dtype, tq, h, g, d, length, n, p):
    gen = torch.Generator().manual_seed(tq * 100 + length + p)
    q, k, v = (torch.randn(*shape, generator=gen) for shape in ((tq, h, d), (length, g, d), (length, g, d)))
    pool_k, pool_v = torch.randn(n, g, d, generator=gen), torch.randn(n, g, d, generator=gen)
    rows = torch.randint(0, n, (p,), generator=gen)  # repeats allowed: a row read twice counts twice
    q, k, v, pool_k, pool_v = (t.to(dtype) for t in (q, k, v, pool_k, pool_v))
    scale = d ** -0.5
    want = reference(q, k, v, scale, pool_k, pool_v, rows)
    dev = [t.to(DEVICE) for t in (q, k, v, pool_k, pool_v, rows)]
    out = torch.full_like(dev[0], float("nan"))
    got = fused.sparse_attention(*dev[:3], scale, MemoryRows(*dev[3:]), out=out)
    assert got.dtype == dtype and not got.isnan().any()
    assert (got.cpu().double() - want).abs().max() <= TOL[dtype]


@pytest.mark.parametrize(("tq", "length", "p"), [(1, 9, 4), (5, 5, 0), (4, 12, 7)])
def test_torch_path_matches_float64(tq, length, p):
    gen = torch.Generator().manual_seed(length)
    q = torch.randn(tq, 6, 16, generator=gen, dtype=torch.float64)
    k, v = torch.randn(length, 2, 16, generator=gen, dtype=torch.float64), torch.randn(length, 2, 16, generator=gen,
                                                                                        dtype=torch.float64)
    pool_k, pool_v = torch.randn(10, 2, 16, generator=gen, dtype=torch.float64), torch.randn(
        10, 2, 16, generator=gen, dtype=torch.float64)
    rows = torch.randperm(10, generator=gen)[:p]
    got = naive.sparse_attention(q, k, v, 0.25, MemoryRows(pool_k, pool_v, rows))
    assert torch.allclose(got, reference(q, k, v, 0.25, pool_k, pool_v, rows), atol=1e-12)
