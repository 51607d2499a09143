"""Routing scores and per-document top-k in plain torch (the oracle and the CPU path).

Score of chunk c for query head h at routing token t: s = <q[t, h], k[c, h // group]> (GQA mapping),
optionally on L2-normalised vectors (cosine) and times a scale. Heads are reduced first, then routing
tokens, then a document's chunks (MSA_SPEC.md section 3.2; the paper's Eq. 2 with the defaults).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from msa.kernels.route.fp8 import Fp8Keys


@dataclass(frozen=True)
class RouteSpec:
    """How scores are computed. Clean mode: cosine, no scale, fp32. Compat mode follows the checkpoint."""

    cosine: bool = True
    scale: float | None = None
    head_reduce: str = "mean"
    query_reduce: str = "max"
    chunk_reduce: str = "max"
    score_dtype: torch.dtype = torch.float32


def chunk_scores(q: Tensor, keys: Tensor | Fp8Keys, spec: RouteSpec) -> Tensor:
    """q [S, H, D] routing queries, keys [C, G, D] pooled routing keys -> chunk scores [C]. fp8 keys score as
    their dequantised values."""
    if isinstance(keys, Fp8Keys):
        keys = keys.dequantize()
    s, h, d = q.shape
    g = keys.shape[1]
    q, keys = q.to(spec.score_dtype), keys.to(spec.score_dtype)
    if spec.cosine:
        q, keys = F.normalize(q, dim=-1), F.normalize(keys, dim=-1)
    if spec.scale is not None:
        q = q * spec.scale
    qg = q.view(s, g, h // g, d)  # [S, G, group, D]: query head h belongs to key head h // group
    scores = torch.einsum("sgjd,cgd->sgjc", qg, keys).reshape(s, h, -1)  # [S, H, C]
    per_token = scores.mean(1) if spec.head_reduce == "mean" else scores.amax(1)  # [S, C]
    if spec.query_reduce == "max":
        return per_token.amax(0)
    if spec.query_reduce == "mean":
        return per_token.mean(0)
    return per_token[-1]  # "last"


def doc_scores(chunk_score: Tensor, chunk_doc: Tensor, num_docs: int, spec: RouteSpec) -> Tensor:
    """chunk scores [C] and owning document index [C] (-1: the chunk is skipped) -> document scores
    [num_docs] (-inf: no chunks)."""
    out = torch.full((num_docs + 1,), float("-inf"), dtype=chunk_score.dtype, device=chunk_score.device)
    doc = torch.where(chunk_doc < 0, num_docs, chunk_doc)  # skipped chunks land on a spare document
    if spec.chunk_reduce == "max":
        return out.scatter_reduce(0, doc, chunk_score, reduce="amax", include_self=True)[:num_docs]
    return out.scatter_reduce(0, doc, chunk_score, reduce="mean", include_self=False)[:num_docs]


def route_scores(q: Tensor, keys: Tensor, chunk_doc: Tensor, num_docs: int, spec: RouteSpec) -> Tensor:
    """Document scores [num_docs] of one question against one layer's routing keys."""
    return doc_scores(chunk_scores(q, keys, spec), chunk_doc, num_docs, spec)


def top_k(scores: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """Best k documents (indices, scores), highest first, ties by lower index; -inf and NaN never selected.

    A full stable sort: on an H100 it beat torch.topk plus a tie fix-up at 15k-1M documents (0.08 ms for
    97,656 scores against 0.31-0.38 ms for the two fix-ups tried, 2026-11-24)."""
    clean = scores.masked_fill(scores.isnan(), float("-inf"))  # NaN takes no place in the top k
    order = torch.sort(clean, descending=True, stable=True).indices[:k]
    order = order[clean[order] > float("-inf")]
    return order, scores[order]


def top_k_rows(scores: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """Every row's best k: scores [R, n] -> (indices [R, min(k, n)], fp32 scores), highest first, ties by lower
    index; a row with fewer than k selectable scores ends in -inf entries (NaN counts as -inf), which select
    nothing."""
    clean = scores.float().masked_fill(scores.isnan(), float("-inf"))
    order = torch.sort(clean, dim=1, descending=True, stable=True).indices[:, :k]
    return order, clean.gather(1, order)
