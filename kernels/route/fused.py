"""Routing chunk scores in one Triton kernel: every chunk's routing keys are read once.

Heads are folded first (on the host, O(S·H·D)): with head_reduce "mean" the mean over query heads of
per-head scores is linear in the queries, so the query heads of each GQA group add up into one vector,
    score[t, c] = sum_g  <Q[t, g], k[c, g]> · inv[c, g],   Q[t, g] = scale · sum_{h in g} q̂[t, h] / H,
where q̂ is q normalised per head (cosine) or q itself, and inv the key's inverse norm (cosine) or 1.
The kernel streams [BLOCK_C, D] key tiles per group, multiplies them with Q on the tensor cores and keeps
the max over routing tokens: chunk scores [C] in fp32. bf16 keys multiply a two-term bf16 split of Q
(Q = hi + lo): products carry about 16 significant bits (relative error ~1.5e-5 of each term, against
~4e-3 for Q rounded to bf16), summed in fp32 on the tensor cores; fp32 keys use tf32x3. query_reduce
"mean" and "last" reduce Q before the launch (both are linear). With a chunk -> document map the kernel
also takes each document's max (an atomic max per row), so chunk scores never reach memory.
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F
import triton
import triton.language as tl
from torch import Tensor

from msa.kernels.route.naive import RouteSpec

EPS = 1e-12  # F.normalize's


def supports(keys: Tensor, spec: RouteSpec) -> bool:
    """What the kernel computes exactly as the oracle does; anything else takes the naive path."""
    return (spec.head_reduce == "mean" and spec.score_dtype == torch.float32
            and keys.dtype in (torch.bfloat16, torch.float16, torch.float32) and keys.shape[0] > 0)


def fold_queries(q: Tensor, groups: int, spec: RouteSpec) -> Tensor:
    """q [S, H, D] -> folded queries [S', G, D] fp32 (S' = 1 for query_reduce mean / last)."""
    s, h, d = q.shape
    q = q.float()
    if spec.cosine:
        q = F.normalize(q, dim=-1)
    if spec.scale is not None:
        q = q * spec.scale
    folded = q.view(s, groups, h // groups, d).sum(2) / h  # [S, G, D]
    if spec.query_reduce == "mean":
        return folded.mean(0, keepdim=True)
    if spec.query_reduce == "last":
        return folded[-1:]
    return folded


def _configs() -> list[triton.Config]:
    """Tile sizes tried once per shape on a GPU; one fixed choice under the interpreter."""
    if os.environ.get("TRITON_INTERPRET") == "1":
        return [triton.Config({"BLOCK_C": 128}, num_warps=4)]
    return [triton.Config({"BLOCK_C": c}, num_warps=w, num_stages=st)
            for c, w, st in ((64, 4, 3), (128, 4, 3), (128, 8, 3), (128, 8, 4), (256, 8, 3))]


@triton.autotune(configs=_configs(), key=["G", "D", "BLOCK_S", "COSINE", "SPLIT", "PER_DOC"])  # reruns are idempotent
@triton.jit
def _route_chunks(keys, q_hi, q_lo, owner, out, C, S, G: tl.constexpr, D: tl.constexpr, BLOCK_C: tl.constexpr,
                  BLOCK_D: tl.constexpr, BLOCK_S: tl.constexpr, COSINE: tl.constexpr, SPLIT: tl.constexpr,
                  PER_DOC: tl.constexpr):
    pid = tl.program_id(0)
    rows = pid * BLOCK_C + tl.arange(0, BLOCK_C)  # [BLOCK_C]
    dims = tl.arange(0, BLOCK_D)
    toks = tl.arange(0, BLOCK_S)
    row_ok = rows < C
    acc = tl.zeros((BLOCK_C, BLOCK_S), dtype=tl.float32)
    for g in tl.range(G):
        k = tl.load(keys + rows[:, None].to(tl.int64) * (G * D) + g * D + dims[None, :],
                    mask=row_ok[:, None] & (dims[None, :] < D), other=0.0)  # [BLOCK_C, BLOCK_D]
        q_offsets = toks[None, :] * (G * D) + g * D + dims[:, None]  # [BLOCK_D, BLOCK_S], Q^T
        q_mask = (dims[:, None] < D) & (toks[None, :] < S)
        if SPLIT:
            part = tl.dot(k, tl.load(q_hi + q_offsets, mask=q_mask, other=0.0))
            part += tl.dot(k, tl.load(q_lo + q_offsets, mask=q_mask, other=0.0))
        else:
            part = tl.dot(k, tl.load(q_hi + q_offsets, mask=q_mask, other=0.0), input_precision="tf32x3")
        if COSINE:
            kf = k.to(tl.float32)
            norm = tl.sqrt(tl.sum(kf * kf, axis=1))  # [BLOCK_C]
            part = part / tl.maximum(norm, 1e-12)[:, None]
        acc += part
    acc = tl.where(toks[None, :] < S, acc, float("-inf"))
    best = tl.max(acc, axis=1)  # [BLOCK_C]
    if PER_DOC:  # max into each row's document (out starts at -inf)
        tl.atomic_max(out + tl.load(owner + rows, mask=row_ok, other=0), best, mask=row_ok)
    else:
        tl.store(out + rows, best, mask=row_ok)


def chunk_scores(q: Tensor, keys: Tensor, spec: RouteSpec, out: Tensor | None = None) -> Tensor:
    """q [S, H, D] routing queries, keys [C, G, D] -> chunk scores [C] fp32 (the oracle's `chunk_scores`);
    `out` [C] fp32 receives them if given."""
    out = torch.empty(keys.shape[0], dtype=torch.float32, device=keys.device) if out is None else out
    return _launch(q, keys, spec, None, out)


def doc_scores(q: Tensor, keys: Tensor, chunk_doc: Tensor, num_docs: int, spec: RouteSpec) -> Tensor:
    """Per-document max of the chunk scores [num_docs] (-inf: no chunks), reduced inside the kernel."""
    if spec.chunk_reduce != "max":
        raise ValueError("the fused per-document reduction is the max; use chunk_scores for the mean")
    out = torch.full((num_docs,), float("-inf"), dtype=torch.float32, device=keys.device)
    return _launch(q, keys, spec, chunk_doc.to(keys.device).contiguous(), out)


def _launch(q: Tensor, keys: Tensor, spec: RouteSpec, owner: Tensor | None, out: Tensor) -> Tensor:
    c, g, d = keys.shape
    folded = fold_queries(q.to(keys.device), g, spec).contiguous()  # [S, G, D]
    s = folded.shape[0]
    keys = keys.contiguous()
    split = keys.dtype != torch.float32
    if split:
        hi = folded.to(keys.dtype)
        lo = (folded - hi.float()).to(keys.dtype)
    else:
        hi = lo = folded
    _route_chunks[lambda meta: (triton.cdiv(c, meta["BLOCK_C"]),)](
        keys, hi, lo, out if owner is None else owner, out, c, s, G=g, D=d,
        BLOCK_D=max(16, triton.next_power_of_2(d)), BLOCK_S=max(16, triton.next_power_of_2(s)),
        COSINE=spec.cosine, SPLIT=split, PER_DOC=owner is not None)
    return out
