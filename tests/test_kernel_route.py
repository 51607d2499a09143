"""The fused routing kernel against a float64 reference (the oracle's math in double), on odd shapes and
every supported spec; under the Triton interpreter on CPU, natively on a GPU. Outputs start as NaN so an
unwritten element shows."""

from __future__ import annotations

import pytest
import torch

from msa.kernels.route import fused, naive, select
from msa.kernels.route.fp8 import Fp8Keys, quantize
from msa.kernels.route.naive import RouteSpec, doc_scores, top_k

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
DTYPES = [torch.float32, torch.float16,
          pytest.param(torch.bfloat16, marks=pytest.mark.gpu)]  # the interpreter has no bf16
SPECS = [RouteSpec(), RouteSpec(cosine=False, scale=0.125), RouteSpec(query_reduce="mean"),
         RouteSpec(query_reduce="last"), RouteSpec(cosine=False, scale=None, query_reduce="mean")]


def reference(q: torch.Tensor, keys: torch.Tensor, spec: RouteSpec) -> torch.Tensor:
    """The oracle in float64 on the same (already rounded) keys."""
    spec64 = RouteSpec(spec.cosine, spec.scale, spec.head_reduce, spec.query_reduce, spec.chunk_reduce,
                       torch.float64)
    return naive.chunk_scores(q.double().cpu(), keys.double().cpu(), spec64)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"cos{int(s.cosine)}-{s.query_reduce}")
@pytest.mark.parametrize(("chunks", "groups", "heads", "dim", "tokens"),
                         [(1, 1, 1, 16, 1), (7, 2, 6, 24, 5), (300, 3, 9, 64, 33), (1000, 8, 32, 128, 17)])
def test_fused_chunk_scores_match_float64(dtype, spec, chunks, groups, heads, dim, tokens):
    g = torch.Generator().manual_seed(chunks * 31 + dim)
    q = torch.randn(tokens, heads, dim, generator=g)
    keys = (torch.randn(chunks, groups, dim, generator=g) * 3).to(dtype)
    out = torch.full((chunks,), float("nan"), device=DEVICE)
    got = fused.chunk_scores(q.to(DEVICE), keys.to(DEVICE), spec, out=out)
    want = reference(q, keys, spec)
    assert not got.isnan().any()
    # fp32 rounding of terms that may cancel; bf16 keys meet a two-term bf16 split of the queries (2^-16)
    tol = (1.5e-5 if dtype == torch.bfloat16 else 2e-6) * float(want.abs().max()) + 1e-6
    assert (got.cpu().double() - want).abs().max() <= tol


def test_ties_go_to_the_lower_document():
    g = torch.Generator().manual_seed(3)
    q = torch.randn(4, 4, 16, generator=g)
    row = q[:1].view(1, 2, 2, 16).sum(2)  # points along the first token's folded query: the best row
    keys = torch.cat([torch.randn(130, 2, 16, generator=g) * 0.01, row, row, torch.randn(5, 2, 16, generator=g)
                      * 0.01, row])  # rows 130, 131 and 137 equal, in different tiles
    owner = torch.tensor([*range(130), 130, 131, *range(132, 137), 137])
    spec = RouteSpec(cosine=False)
    scores = doc_scores(fused.chunk_scores(q.to(DEVICE), keys.to(DEVICE), spec).cpu(), owner, 138, spec)
    idx, _ = top_k(scores, 3)
    assert idx.tolist() == [130, 131, 137]


def test_unsupported_specs_take_the_oracle():
    keys = torch.randn(5, 2, 16)
    assert not fused.supports(keys, RouteSpec(score_dtype=torch.bfloat16))  # compat numerics
    assert not fused.supports(keys, RouteSpec(head_reduce="max"))
    assert not fused.supports(keys[:0], RouteSpec())
    assert fused.supports(keys, RouteSpec())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("skip", [False, True])
def test_fused_document_max_matches_the_oracle(dtype, skip):
    """Rows owned by -1 (a filter's other documents) are skipped: their scores reach no document."""
    g = torch.Generator().manual_seed(5)
    lengths = torch.tensor([3, 1, 40, 7, 150, 2])  # documents of odd chunk counts, across tiles
    q = torch.randn(6, 8, 32, generator=g)
    keys = torch.randn(int(lengths.sum()), 4, 32, generator=g).to(dtype)
    owner = torch.repeat_interleave(torch.arange(len(lengths)), lengths)
    if skip:  # document 1 entirely, and every third row of the others
        owner = torch.where((owner == 1) | (torch.arange(len(owner)) % 3 == 0), -1, owner)
    spec = RouteSpec()
    got = fused.doc_scores(q.to(DEVICE), keys.to(DEVICE), owner.to(DEVICE), len(lengths) + 1, spec).cpu()
    want = doc_scores(reference(q, keys, spec), owner, len(lengths) + 1, spec)
    kept = owner >= 0
    by_hand = torch.full((len(lengths) + 1,), float("-inf"), dtype=torch.float64)
    for row, doc in zip(reference(q, keys, spec)[kept], owner[kept], strict=True):
        by_hand[doc] = max(by_hand[doc], row)
    assert torch.equal(want, by_hand)  # the oracle skips them too
    assert got[-1] == float("-inf") and (got[1] == float("-inf")) == skip  # documents without (kept) chunks
    tol = (1.5e-5 if dtype == torch.bfloat16 else 2e-6) + 1e-6
    finite = want > float("-inf")
    assert torch.equal(got > float("-inf"), finite) and (got[finite].double() - want[finite]).abs().max() <= tol


def test_fp8_quantisation_error_is_one_e4m3_rounding():
    g = torch.Generator().manual_seed(11)
    keys = torch.randn(50, 3, 40, generator=g) * torch.logspace(-3, 3, 50)[:, None, None]
    keys[7, 1] = 0  # a zero vector stays zero and scores 0
    k8 = quantize(keys)
    assert k8.values.dtype == torch.float8_e4m3fn and k8.scale.shape == (50, 3)
    err = (k8.dequantize() - keys).abs()
    assert (err <= keys.abs() * 2.0 ** -4 + k8.scale[..., None] * 2.0 ** -10).all()  # normals; subnormal step
    assert (k8.dequantize()[7, 1] == 0).all() and k8.inv_norm.isfinite().all()
    assert k8.nbytes == 50 * 3 * 40 + 50 * 3 * 4


@pytest.mark.parametrize("spec", SPECS[:2], ids=["cosine", "dot"])
@pytest.mark.parametrize(("chunks", "groups", "heads", "dim", "tokens"), [(1, 1, 1, 16, 1), (300, 3, 9, 64, 33),
                                                                           (700, 8, 32, 128, 17)])
def test_fused_fp8_scores_match_float64(spec, chunks, groups, heads, dim, tokens):
    g = torch.Generator().manual_seed(chunks + dim)
    q = torch.randn(tokens, heads, dim, generator=g)
    k8 = quantize(torch.randn(chunks, groups, dim, generator=g) * 3)
    want = reference(q, k8.dequantize(), spec)
    assert torch.equal(naive.chunk_scores(q.double(), k8, RouteSpec(spec.cosine, spec.scale,
                                                                    score_dtype=torch.float64)), want)
    dev = Fp8Keys(k8.values.to(DEVICE), k8.scale.to(DEVICE), k8.inv_norm.to(DEVICE))
    got = fused.chunk_scores(q.to(DEVICE), dev, spec, out=torch.full((chunks,), float("nan"), device=DEVICE))
    # three e4m3 terms of the queries: about 2^-12 of each product; Hopper's fp8 tensor cores also accumulate
    # with fewer bits (1.2e-4 of the largest score seen on an H100): far under the keys' own 2^-4 rounding
    tol = 5e-4 * float(want.abs().max()) + 1e-6
    assert (got.cpu().double() - want).abs().max() <= tol
    owner = torch.arange(chunks) // 3
    docs = fused.doc_scores(q.to(DEVICE), dev, owner.to(DEVICE), int(owner[-1]) + 1, spec).cpu().double()
    assert (docs - doc_scores(want, owner, int(owner[-1]) + 1, spec)).abs().max() <= tol



@pytest.mark.parametrize("dtype", [*DTYPES, torch.float8_e4m3fn])
@pytest.mark.parametrize("spec", SPECS[:3], ids=lambda s: f"cos{int(s.cosine)}-{s.query_reduce}")
@pytest.mark.parametrize("tokens", [(5,), (16, 3, 9), (1, 2, 3, 4, 5, 6, 7), (16,) * 9 + (40, 2)])
def test_several_questions_in_one_launch_match_each_alone(dtype, spec, tokens):
    """Questions of different routing-token counts side by side in a launch (keys read once for all; more
    than a launch's columns hold go in several): each gets what the oracle gives it alone."""
    g = torch.Generator().manual_seed(len(tokens) * 31 + tokens[0])
    lengths = torch.tensor([2, 9, 1, 70, 4])
    raw = torch.randn(int(lengths.sum()), 2, 32, generator=g)
    keys = quantize(raw) if dtype == torch.float8_e4m3fn else raw.to(dtype)
    rounded = keys.dequantize() if dtype == torch.float8_e4m3fn else keys
    dev = (Fp8Keys(keys.values.to(DEVICE), keys.scale.to(DEVICE), keys.inv_norm.to(DEVICE))
           if dtype == torch.float8_e4m3fn else keys.to(DEVICE))
    owner = torch.repeat_interleave(torch.arange(len(lengths)), lengths)
    qs = [torch.randn(s, 4, 32, generator=g) for s in tokens]
    got = fused.doc_scores_many([q.to(DEVICE) for q in qs], dev, owner.to(DEVICE), len(lengths), spec).cpu()
    assert got.shape == (len(qs), len(lengths))
    for q, row in zip(qs, got, strict=True):
        want = doc_scores(reference(q, rounded, spec), owner, len(lengths), spec)
        scale = float(want.abs().max())
        tol = (5e-4 * scale if dtype == torch.float8_e4m3fn else 1.5e-5 * scale if dtype == torch.bfloat16
               else 2e-6 * scale) + 1e-6
        assert (row.double() - want).abs().max() <= tol


@pytest.mark.parametrize(("n", "k"), [(1, 1), (5, 16), (300, 16), (3000, 7), (700, 64),
                                      pytest.param(100_000, 16, marks=pytest.mark.gpu)])
def test_gpu_top_k_matches_the_oracle(n, k):
    g = torch.Generator().manual_seed(n + k)
    scores = torch.randn(n, generator=g).round(decimals=1)  # many ties
    scores[torch.randint(0, n, (n // 10 + 1,), generator=g)] = float("-inf")
    if n > 10:
        scores[3], scores[4], scores[5], scores[6] = float("nan"), -0.0, 0.0, float("inf")
    want_idx, want_vals = top_k(scores, k)
    got_idx, got_vals = select.top_k(scores.to(DEVICE), k)
    assert got_idx.tolist() == want_idx.tolist() and torch.equal(got_vals, want_vals)


@pytest.mark.parametrize(("rows", "n", "k"), [(1, 1, 1), (3, 5, 16), (20, 301, 16), (2, 3000, 7),
                                              pytest.param(20, 50_000, 16, marks=pytest.mark.gpu)])
def test_gpu_top_k_rows_matches_the_oracle(rows, n, k):
    g = torch.Generator().manual_seed(rows * n + k)
    scores = torch.randn(rows, n, generator=g).round(decimals=1)  # many ties
    scores[torch.rand(rows, n, generator=g) < 0.1] = float("-inf")
    scores[0, :4] = torch.tensor([float("nan"), -0.0, 0.0, float("inf")])[:n]
    want_idx, want_vals = naive.top_k_rows(scores, k)
    got_idx, got_vals = select.top_k_rows(scores.to(DEVICE), k)
    assert torch.equal(got_idx.cpu(), want_idx) and torch.equal(got_vals.cpu(), want_vals)
