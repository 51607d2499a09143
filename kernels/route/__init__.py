"""route: routing scores of a question against pooled routing keys, reduced per document, and top-k.

`chunk_scores` / `route_scores` take the fused Triton kernel (`fused.py`) for CUDA tensors where it
computes what the oracle does (head mean, fp32 scores), and the plain-torch oracle (`naive.py`) otherwise:
on the CPU and for the compatibility numerics (bf16 scores, head max). Keys are a tensor or fp8 keys
(`fp8.quantize`): half the bytes to scan, scored as their dequantised values. `top_k` selects on the GPU
(`select.py`) and hands back host tensors there.
"""

import torch
from torch import Tensor

from msa.kernels.route import fused, naive, select
from msa.kernels.route.fp8 import Fp8Keys, quantize
from msa.kernels.route.naive import RouteSpec, doc_scores


def chunk_scores(q: Tensor, keys: Tensor | Fp8Keys, spec: RouteSpec) -> Tensor:
    """q [S, H, D] routing queries, keys [C, G, D] pooled routing keys -> chunk scores [C]."""
    if keys.device.type == "cuda" and fused.supports(keys, spec):
        return fused.chunk_scores(q, keys, spec)
    return naive.chunk_scores(q, keys, spec)


def route_scores(q: Tensor, keys: Tensor | Fp8Keys, chunk_doc: Tensor, num_docs: int, spec: RouteSpec) -> Tensor:
    """Document scores [num_docs] of one question against one layer's routing keys."""
    if keys.device.type == "cuda" and fused.supports(keys, spec) and spec.chunk_reduce == "max":
        return fused.doc_scores(q, keys, chunk_doc, num_docs, spec)
    return doc_scores(chunk_scores(q, keys, spec), chunk_doc, num_docs, spec)


def route_scores_many(qs: list[Tensor], keys: Tensor | Fp8Keys, chunk_doc: Tensor, num_docs: int, spec: RouteSpec
                      ) -> Tensor:
    """Several questions' document scores [B, num_docs] against the same keys: on the fused path the keys are
    read once for a launch's worth of questions, which is what makes concurrent questions cheap."""
    if keys.device.type == "cuda" and fused.supports(keys, spec) and spec.chunk_reduce == "max":
        return fused.doc_scores_many(qs, keys, chunk_doc, num_docs, spec)
    return torch.stack([doc_scores(chunk_scores(q, keys, spec), chunk_doc, num_docs, spec) for q in qs])


def top_k(scores: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """Best k (indices, scores), highest first, ties by lower index; -inf and NaN never selected."""
    if select.supports(scores):
        return select.top_k(scores, k)
    return naive.top_k(scores, k)


def top_k_rows(scores: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """Best k of every row at once: scores [R, n] -> (indices [R, min(k, n)], fp32 scores) on the scores'
    device, ties by lower index; -inf entries (a row with fewer than k documents) select nothing."""
    if select.supports(scores):
        return select.top_k_rows(scores, k)
    return naive.top_k_rows(scores, k)


__all__ = ["Fp8Keys", "RouteSpec", "chunk_scores", "doc_scores", "quantize", "route_scores", "route_scores_many",
           "top_k", "top_k_rows"]
