"""Kernel launchers reject wrong shapes, dtypes, strides and devices before launching, with a message naming the
argument, what was expected and what was given. No GPU needed: every case fails a check before any launch
(devices: a "meta" tensor beside host ones, and host tensors with the Triton interpreter off)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
import torch

from msa.kernels.chunk_pool import fused as pool
from msa.kernels.route import fused as route
from msa.kernels.route import naive as route_oracle
from msa.kernels.route import select, top_k
from msa.kernels.route.fp8 import Fp8Keys
from msa.kernels.route.naive import RouteSpec
from msa.kernels.sparse_attn import MemoryRows, sparse_attention
from msa.kernels.sparse_attn import fused as attention
from msa.kernels.sparse_attn import naive as attention_oracle

CLEAN = RouteSpec()
FLOATS = "torch.float32 or torch.float16 or torch.bfloat16"
INDICES = "torch.int32 or torch.int64"


def zeros(*shape: int, dtype: torch.dtype = torch.float32, device: str = "cpu") -> torch.Tensor:
    return torch.zeros(shape, dtype=dtype, device=device)


def case(call: Callable[[], object], error: type[Exception], message: str, name: str):
    return pytest.param(call, error, message, id=name)


def pooled(x=None, cu_seqlens=None, chunk_size=4, out=None):
    """chunk_pool of three documents (3, 0 and 7 tokens: chunks 1 + 0 + 2) with the given arguments replaced."""
    x = zeros(10, 2, 16) if x is None else x
    cu_seqlens = torch.tensor([0, 3, 3, 10]) if cu_seqlens is None else cu_seqlens
    return pool.chunk_pool(x, cu_seqlens, chunk_size, out=out)


POOL = [
    case(lambda: pooled(x=zeros(10, 32)), ValueError, "x: expected a 3-D tensor [T, G, D], got shape (10, 32)",
         "pool-x-rank"),
    case(lambda: pooled(x=zeros(10, 2, 16, dtype=torch.int64)), TypeError,
         f"x: expected dtype {FLOATS} or torch.float64, got torch.int64", "pool-x-dtype"),
    case(lambda: pooled(cu_seqlens=torch.tensor([[0, 3, 10]])), ValueError,
         "cu_seqlens: expected a 1-D tensor [N+1], got shape (1, 3)", "pool-cu-rank"),
    case(lambda: pooled(cu_seqlens=torch.tensor([0.0, 3.0, 10.0])), TypeError,
         f"cu_seqlens: expected dtype {INDICES}, got torch.float32", "pool-cu-dtype"),
    case(lambda: pooled(chunk_size=0), ValueError, "chunk_size: expected at least 1, got 0", "pool-chunk-size"),
    case(lambda: pooled(cu_seqlens=torch.tensor([], dtype=torch.int64)), ValueError,
         "cu_seqlens: expected at least one boundary, got none", "pool-cu-empty"),
    case(lambda: pooled(cu_seqlens=torch.tensor([0, 3, 12])), ValueError,
         "cu_seqlens: expected boundaries from 0 to 10 (x's T), got 0 to 12", "pool-cu-past-x"),
    case(lambda: pooled(cu_seqlens=torch.tensor([2, 3, 10])), ValueError,
         "cu_seqlens: expected boundaries from 0 to 10 (x's T), got 2 to 10", "pool-cu-start"),
    case(lambda: pooled(cu_seqlens=torch.tensor([0, 6, 4, 10])), ValueError,
         "cu_seqlens: expected non-decreasing boundaries, got 6 then 4 at index 1", "pool-cu-order"),
    case(lambda: pooled(out=zeros(4, 2, 16)), ValueError,
         "out: expected shape [C, G, D] with C = 3 (from cu_seqlens and chunk_size), got shape (4, 2, 16)",
         "pool-out-chunks"),
    case(lambda: pooled(out=zeros(3, 2, 8)), ValueError,
         "out: expected shape [C, G, D] with D = 16 (from x), got shape (3, 2, 8)", "pool-out-dim"),
    case(lambda: pooled(out=zeros(3, 2, 16, dtype=torch.float16)), TypeError,
         "out: expected dtype torch.float32 (as x), got torch.float16", "pool-out-dtype"),
    case(lambda: pooled(out=zeros(2, 3, 16).transpose(0, 1)), ValueError,
         "out: expected contiguous strides (32, 16, 1), got (16, 48, 1)", "pool-out-strides"),
    case(lambda: pooled(out=zeros(3, 2, 16, device="meta")), ValueError,
         "out: expected a tensor on cpu (as x), got one on meta", "pool-out-device"),
]


def attend(q=None, k=None, v=None, pool_k=None, pool_v=None, rows=None, out=None):
    """Two query tokens of 4 heads over 5 local keys of 2 KV heads and 3 of 6 pool rows, arguments replaced."""
    q = zeros(2, 4, 16) if q is None else q
    k = zeros(5, 2, 16) if k is None else k
    v = zeros(5, 2, 16) if v is None else v
    pool_k = zeros(6, 2, 16) if pool_k is None else pool_k
    pool_v = zeros(6, 2, 16) if pool_v is None else pool_v
    rows = torch.tensor([0, 5, 5]) if rows is None else rows
    return attention.sparse_attention(q, k, v, 0.25, MemoryRows(pool_k, pool_v, rows), out=out)


ATTENTION = [
    case(lambda: attend(q=zeros(2, 64)), ValueError, "q: expected a 3-D tensor [Tq, H, D], got shape (2, 64)",
         "attention-q-rank"),
    case(lambda: attend(k=zeros(5, 2, 8)), ValueError,
         "k: expected shape [L, G, D] with D = 16 (from q), got shape (5, 2, 8)", "attention-k-dim"),
    case(lambda: attend(v=zeros(4, 2, 16)), ValueError,
         "v: expected shape [L, G, D] with L = 5 (from k), got shape (4, 2, 16)", "attention-v-length"),
    case(lambda: attend(pool_k=zeros(6, 1, 16)), ValueError,
         "memory.k: expected shape [N, G, D] with G = 2 (from k), got shape (6, 1, 16)", "attention-pool-k-groups"),
    case(lambda: attend(pool_v=zeros(7, 2, 16)), ValueError,
         "memory.v: expected shape [N, G, D] with N = 6 (from memory.k), got shape (7, 2, 16)",
         "attention-pool-v-rows"),
    case(lambda: attend(rows=torch.tensor([[0, 5]])), ValueError,
         "memory.rows: expected a 1-D tensor [P], got shape (1, 2)", "attention-rows-rank"),
    case(lambda: attend(out=zeros(2, 4, 8)), ValueError,
         "out: expected shape [Tq, H, D] with D = 16 (from q), got shape (2, 4, 8)", "attention-out-shape"),
    case(lambda: attend(q=zeros(2, 3, 16)), ValueError,
         "q: expected query heads H a multiple of k's KV heads G = 2, got H = 3", "attention-heads"),
    case(lambda: attend(q=zeros(6, 4, 16)), ValueError,
         "k: expected at least q's Tq = 6 local keys (the queries are the last of them), got L = 5", "attention-local"),
    case(lambda: attend(q=zeros(2, 4, 16, dtype=torch.float64)), TypeError,
         f"q: expected dtype {FLOATS}, got torch.float64", "attention-q-dtype"),
    case(lambda: attend(k=zeros(5, 2, 16, dtype=torch.float16)), TypeError,
         "k: expected dtype torch.float32 (as q), got torch.float16", "attention-k-dtype"),
    case(lambda: attend(pool_k=zeros(6, 2, 16, dtype=torch.bfloat16)), TypeError,
         "memory.k: expected dtype torch.float32 (as q), got torch.bfloat16", "attention-pool-dtype"),
    case(lambda: attend(out=zeros(2, 4, 16, dtype=torch.float16)), TypeError,
         "out: expected dtype torch.float32 (as q), got torch.float16", "attention-out-dtype"),
    case(lambda: attend(rows=torch.tensor([0.0, 5.0])), TypeError,
         f"memory.rows: expected dtype {INDICES}, got torch.float32", "attention-rows-dtype"),
    case(lambda: attend(out=zeros(4, 2, 16).transpose(0, 1)), ValueError,
         "out: expected contiguous strides (64, 16, 1), got (16, 32, 1)", "attention-out-strides"),
    case(lambda: attend(k=zeros(5, 2, 16, device="meta")), ValueError,
         "k: expected a tensor on cpu (as q), got one on meta", "attention-k-device"),
    case(lambda: attend(rows=torch.tensor([0, 5], device="meta")), ValueError,
         "memory.rows: expected a tensor on cpu (as q), got one on meta", "attention-rows-device"),
]


def fp8(c: int = 5, scale=None, inv_norm=None, values=None) -> Fp8Keys:
    """fp8 keys of c chunks and 2 KV heads, fields replaced."""
    return Fp8Keys(zeros(c, 2, 16).to(torch.float8_e4m3fn) if values is None else values,
                   zeros(c, 2) if scale is None else scale, zeros(c, 2) if inv_norm is None else inv_norm)


def scores(q=None, keys=None, spec=CLEAN, out=None):
    """chunk_scores of 3 routing tokens of 4 heads against 5 chunks of 2 KV heads, arguments replaced."""
    return route.chunk_scores(zeros(3, 4, 16) if q is None else q, zeros(5, 2, 16) if keys is None else keys, spec,
                              out=out)


def documents(qs=None, chunk_doc=None, num_docs=3):
    """doc_scores_many of two questions against 5 chunks of 3 documents, arguments replaced."""
    return route.doc_scores_many([zeros(3, 4, 16), zeros(1, 4, 16)] if qs is None else qs, zeros(5, 2, 16),
                                 torch.tensor([0, 0, 1, 1, 2]) if chunk_doc is None else chunk_doc, num_docs,
                                 CLEAN)


ROUTE = [
    case(lambda: scores(spec=RouteSpec(head_reduce="max")), ValueError,
         "spec: expected head_reduce 'mean', score_dtype torch.float32 and query_reduce one of ('max', 'mean', "
         "'last'), got 'max', torch.float32 and 'max'", "route-spec-heads"),
    case(lambda: scores(spec=RouteSpec(score_dtype=torch.bfloat16)), ValueError,
         "spec: expected head_reduce 'mean', score_dtype torch.float32 and query_reduce one of ('max', 'mean', "
         "'last'), got 'mean', torch.bfloat16 and 'max'", "route-spec-dtype"),
    case(lambda: scores(spec=RouteSpec(query_reduce="first")), ValueError,
         "spec: expected head_reduce 'mean', score_dtype torch.float32 and query_reduce one of ('max', 'mean', "
         "'last'), got 'mean', torch.float32 and 'first'", "route-spec-tokens"),
    case(lambda: scores(keys=zeros(5, 16)), ValueError, "keys: expected a 3-D tensor [C, G, D], got shape (5, 16)",
         "route-keys-rank"),
    case(lambda: scores(keys=fp8(scale=zeros(5))), ValueError,
         "keys.scale: expected a 2-D tensor [C, G], got shape (5,)", "route-fp8-scale-rank"),
    case(lambda: scores(keys=fp8(inv_norm=zeros(4, 2))), ValueError,
         "keys.inv_norm: expected shape [C, G] with C = 5 (from keys.values), got shape (4, 2)",
         "route-fp8-norm-chunks"),
    case(lambda: scores(q=zeros(3, 4, 8)), ValueError,
         "q: expected shape [S, H, D] with D = 16 (from keys), got shape (3, 4, 8)", "route-q-dim"),
    case(lambda: documents(qs=[zeros(3, 4, 16), zeros(2, 6, 16)]), ValueError,
         "qs[1]: expected shape [S, H, D] with H = 4 (from qs[0]), got shape (2, 6, 16)", "route-qs-heads"),
    case(lambda: scores(q=zeros(3, 3, 16)), ValueError,
         "q: expected query heads H a multiple of the keys' G = 2, got H = 3", "route-heads"),
    case(lambda: scores(keys=zeros(5, 2, 16, dtype=torch.float64)), TypeError,
         "keys: expected dtype torch.bfloat16 or torch.float16 or torch.float32 or torch.float8_e4m3fn, got "
         "torch.float64", "route-keys-dtype"),
    case(lambda: scores(keys=fp8(values=zeros(5, 2, 16, dtype=torch.float16))), TypeError,
         "keys.values: expected dtype torch.float8_e4m3fn, got torch.float16", "route-fp8-values-dtype"),
    case(lambda: scores(keys=fp8(scale=zeros(5, 2, dtype=torch.float16))), TypeError,
         "keys.scale: expected dtype torch.float32, got torch.float16", "route-fp8-scale-dtype"),
    case(lambda: scores(q=zeros(3, 4, 16, dtype=torch.int64)), TypeError,
         "q: expected dtype torch.float64 or torch.float32 or torch.float16 or torch.bfloat16, got torch.int64",
         "route-q-dtype"),
    case(lambda: scores(keys=fp8(inv_norm=zeros(5, 2, device="meta"))), ValueError,
         "keys.inv_norm: expected a tensor on cpu (as keys.values), got one on meta", "route-fp8-norm-device"),
    case(lambda: scores(out=zeros(6)), ValueError, "out: expected shape [C] with C = 5 (from keys), got shape (6,)",
         "route-out-shape"),
    case(lambda: scores(out=zeros(5, dtype=torch.float64)), TypeError,
         "out: expected dtype torch.float32, got torch.float64", "route-out-dtype"),
    case(lambda: scores(out=zeros(10)[::2]), ValueError, "out: expected contiguous strides (1,), got (2,)",
         "route-out-strides"),
    case(lambda: scores(out=zeros(5, device="meta")), ValueError,
         "out: expected a tensor on cpu (as keys), got one on meta", "route-out-device"),
    case(lambda: documents(chunk_doc=torch.tensor([0, 0, 1, 1, 2, 2])), ValueError,
         "chunk_doc: expected shape [C] with C = 5 (from keys), got shape (6,)", "route-chunk-doc-shape"),
    case(lambda: documents(chunk_doc=torch.tensor([0.0, 0.0, 1.0, 1.0, 2.0])), TypeError,
         f"chunk_doc: expected dtype {INDICES}, got torch.float32", "route-chunk-doc-dtype"),
    case(lambda: documents(num_docs=-1), ValueError, "num_docs: expected at least 0, got -1", "route-num-docs"),
]

SELECT = [
    case(lambda: select.top_k(zeros(2, 5), 3), ValueError, "scores: expected a 1-D tensor [n], got shape (2, 5)",
         "select-top-k-rank"),
    case(lambda: select.top_k_rows(zeros(5), 3), ValueError,
         "scores: expected a 2-D tensor [R, n], got shape (5,)", "select-rows-rank"),
    case(lambda: select.top_k(zeros(2 ** 31, device="meta"), 3), ValueError,
         "scores: expected fewer than 2147483648 elements, got 2147483648", "select-size"),
    case(lambda: select.top_k(zeros(5, dtype=torch.float64), 3), TypeError,
         f"scores: expected dtype {FLOATS}, got torch.float64", "select-dtype"),
]


@pytest.mark.parametrize(("call", "error", "message"), POOL + ATTENTION + ROUTE + SELECT)
def test_launchers_reject_before_launching(monkeypatch, call, error, message):
    """Host tensors, as the interpreter takes them: on a GPU machine too, the checks come before any launch."""
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        call()


@pytest.mark.parametrize(("call", "message"), [
    pytest.param(pooled, "x: expected a CUDA tensor, got one on cpu", id="chunk-pool"),
    pytest.param(attend, "q: expected a CUDA tensor, got one on cpu", id="sparse-attention"),
    pytest.param(scores, "keys: expected a CUDA tensor, got one on cpu", id="chunk-scores"),
    pytest.param(lambda: scores(keys=fp8()), "keys.values: expected a CUDA tensor, got one on cpu", id="fp8"),
    pytest.param(documents, "keys: expected a CUDA tensor, got one on cpu", id="doc-scores"),
    pytest.param(lambda: select.top_k(zeros(5), 3), "scores: expected a CUDA tensor, got one on cpu", id="top-k"),
    pytest.param(lambda: select.top_k_rows(zeros(2, 5), 3), "scores: expected a CUDA tensor, got one on cpu",
                 id="top-k-rows"),
])
def test_launchers_need_a_cuda_tensor_outside_the_interpreter(monkeypatch, call, message):
    """Host tensors launch only under the Triton interpreter (the CPU test runs); without it, an error."""
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        call()


@pytest.mark.gpu
def test_other_dtypes_on_the_gpu_take_the_oracle():
    """The public ops hand a launcher only what it accepts: float64 CUDA tensors get the oracle's results."""
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(*s, generator=g, dtype=torch.float64) for s in ((2, 4, 16), (5, 2, 16), (5, 2, 16)))
    want = attention_oracle.sparse_attention(q, k, v, 0.25)
    assert torch.allclose(sparse_attention(q.cuda(), k.cuda(), v.cuda(), 0.25).cpu(), want, atol=1e-10)
    s = torch.randn(50, generator=g, dtype=torch.float64)
    idx, vals = top_k(s.cuda(), 7)
    want_idx, want_vals = route_oracle.top_k(s, 7)
    assert idx.cpu().tolist() == want_idx.tolist() and torch.equal(vals.cpu(), want_vals)
