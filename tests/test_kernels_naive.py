"""Pooling, routing and sparse attention oracles (`msa.kernels.*.naive`) against float64 loops or formulas of the
spec."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from msa.kernels.chunk_pool import chunk_pool
from msa.kernels.route import RouteSpec, route_scores, top_k, top_k_rows
from msa.kernels.sparse_attn import MemoryRows, sparse_attention
from tests.conftest import rel_err

LENGTHS = [1, 7, 8, 9, 63, 64, 65, 130]  # shorter than a chunk, exact multiples, partial last chunks


def pool_loop(x: torch.Tensor, lengths: list[int], size: int) -> torch.Tensor:
    out, start = [], 0
    for n in lengths:
        for c in range(math.ceil(n / size)):
            a, b = start + c * size, start + min((c + 1) * size, n)
            out.append(x[a:b].double().mean(0))
        start += n
    return torch.stack(out)


@pytest.mark.parametrize("size", [1, 8, 64])
@pytest.mark.parametrize(("dtype", "tol"), [(torch.float32, 1e-6), (torch.bfloat16, 8e-3)])
def test_chunk_pool_matches_loop(size, dtype, tol):
    gen = torch.Generator().manual_seed(size)
    x = torch.randn(sum(LENGTHS), 3, 60, generator=gen).to(dtype)  # odd head_dim
    cu = torch.tensor([0, *torch.tensor(LENGTHS).cumsum(0).tolist()])
    pooled, cu_chunks = chunk_pool(x, cu, size)
    ref = pool_loop(x, LENGTHS, size)
    assert pooled.dtype == dtype and pooled.shape == ref.shape
    assert cu_chunks.tolist() == [0, *torch.tensor([math.ceil(n / size) for n in LENGTHS]).cumsum(0).tolist()]
    assert rel_err(pooled, ref) <= tol


def score_loop(q, keys, owner, n_docs, spec: RouteSpec) -> torch.Tensor:
    """Spec 3.2 in float64: s[h,t,c] = <q[t,h], k[c,h//group]>, reduce heads, tokens, then chunks."""
    q, keys = q.double(), keys.double()
    s_len, h, _ = q.shape
    group = h // keys.shape[1]
    chunk = []
    for c in range(keys.shape[0]):
        per_token = []
        for t in range(s_len):
            heads = []
            for i in range(h):
                a, b = q[t, i], keys[c, i // group]
                if spec.cosine:
                    a, b = a / a.norm(), b / b.norm()
                heads.append(float(a @ b) * (spec.scale or 1.0))
            per_token.append(sum(heads) / h if spec.head_reduce == "mean" else max(heads))
        per_token = torch.tensor(per_token, dtype=torch.float64)
        chunk.append({"max": per_token.max(), "mean": per_token.mean(), "last": per_token[-1]}[spec.query_reduce])
    out = []
    for d in range(n_docs):
        mine = [float(chunk[c]) for c in range(len(chunk)) if owner[c] == d]
        if not mine:
            out.append(float("-inf"))
        else:
            out.append(max(mine) if spec.chunk_reduce == "max" else sum(mine) / len(mine))
    return torch.tensor(out, dtype=torch.float64)


@pytest.mark.parametrize("spec", [
    RouteSpec(cosine=True),
    RouteSpec(cosine=False, scale=60 ** -0.5),
    RouteSpec(cosine=True, head_reduce="max", query_reduce="mean", chunk_reduce="mean"),
    RouteSpec(cosine=False, query_reduce="last"),
])
def test_route_scores_match_loop(spec):
    gen = torch.Generator().manual_seed(7)
    q = torch.randn(5, 6, 60, generator=gen)  # 5 routing tokens, 6 query heads, head_dim 60
    keys = torch.randn(11, 2, 60, generator=gen)  # 11 chunks, 2 KV heads (GQA group 3)
    owner = torch.tensor([0, 0, 0, 2, 2, 3, 3, 3, 3, 5, 5])  # documents 1 and 4 have no chunks
    got = route_scores(q, keys, owner, 6, spec)
    want = score_loop(q, keys, owner, 6, spec)
    finite = torch.isfinite(want)
    assert torch.equal(torch.isfinite(got), finite)
    assert rel_err(got[finite], want[finite]) <= 1e-6


def test_compat_bf16_scores_stay_close():
    gen = torch.Generator().manual_seed(8)
    q, keys = torch.randn(4, 8, 32, generator=gen), torch.randn(9, 2, 32, generator=gen)
    owner = torch.arange(9) // 3
    spec = RouteSpec(cosine=False, scale=32 ** -0.5, score_dtype=torch.bfloat16)
    got = route_scores(q, keys, owner, 3, spec)
    assert got.dtype == torch.bfloat16
    assert rel_err(got, score_loop(q, keys, owner, 3, spec)) <= 2e-2


def test_top_k_ties_by_lower_document_and_skips_empty():
    scores = torch.tensor([0.5, 0.75, float("-inf"), 0.75, 0.125, 0.5])
    idx, vals = top_k(scores, 4)
    assert idx.tolist() == [1, 3, 0, 5]
    assert vals.tolist() == [0.75, 0.75, 0.5, 0.5]
    assert top_k(scores, 10)[0].tolist() == [1, 3, 0, 5, 4]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([float("-inf"), float("nan"), -3e38, -2.5, -1.0, -0.0, 0.0, 1e-30, 0.5, 2.0]),
                max_size=40),
       st.integers(0, 45))
def test_top_k_equals_a_full_stable_sort(values, k):
    scores = torch.tensor(values, dtype=torch.float32)
    order = torch.sort(scores.masked_fill(scores.isnan(), float("-inf")), descending=True, stable=True).indices
    want = [i for i in order.tolist()[:k] if scores[i] > float("-inf")]
    idx, vals = top_k(scores, k)
    assert idx.tolist() == want and vals.tolist() == [float(scores[i]) for i in want]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.sampled_from([float("-inf"), float("nan"), -1.0, -0.0, 0.0, 0.5, 2.0]), min_size=6,
                         max_size=6), min_size=1, max_size=4),
       st.integers(1, 8))
def test_top_k_rows_is_top_k_of_each_row(rows, k):
    scores = torch.tensor(rows, dtype=torch.float32)
    idx, vals = top_k_rows(scores, k)
    for r in range(len(rows)):
        keep = vals[r] > float("-inf")
        want_idx, want_vals = top_k(scores[r], k)
        assert idx[r][keep].tolist() == want_idx.tolist() and vals[r][keep].tolist() == want_vals.tolist()


def attention_formula(q, k, v, scale, pool_k, pool_v, rows):
    """Softmax attention in float64 written out: every memory row visible, local keys bottom-right causal."""
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


@pytest.mark.parametrize(("tq", "length", "p"), [(1, 9, 4), (5, 5, 0), (4, 12, 7)])
def test_sparse_attention_matches_formula(tq, length, p):
    gen = torch.Generator().manual_seed(length)
    q = torch.randn(tq, 6, 16, generator=gen, dtype=torch.float64)
    k, v = torch.randn(length, 2, 16, generator=gen, dtype=torch.float64), torch.randn(length, 2, 16, generator=gen,
                                                                                        dtype=torch.float64)
    pool_k, pool_v = torch.randn(10, 2, 16, generator=gen, dtype=torch.float64), torch.randn(
        10, 2, 16, generator=gen, dtype=torch.float64)
    rows = torch.randperm(10, generator=gen)[:p]
    got = sparse_attention(q, k, v, 0.25, MemoryRows(pool_k, pool_v, rows))
    assert torch.allclose(got, attention_formula(q, k, v, 0.25, pool_k, pool_v, rows), atol=1e-12)
