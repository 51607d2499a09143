"""Varlen chunk mean pooling in one Triton kernel: each program sums one chunk's tokens for a block of
features in fp32 and writes their mean — every input element is read once, every output written once.

Chunk geometry (first token, token count) comes from cu_seqlens in a few O(chunks) torch ops.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor

from msa.kernels.chunk_pool.naive import chunk_counts


def chunk_geometry(cu_seqlens: Tensor, chunk_size: int) -> tuple[Tensor, Tensor, Tensor]:
    """-> (cu_chunks [N+1], first token of each chunk [C], tokens in each chunk [C])."""
    lengths = cu_seqlens[1:] - cu_seqlens[:-1]
    counts = chunk_counts(lengths, chunk_size)
    cu_chunks = torch.zeros_like(cu_seqlens)
    cu_chunks[1:] = torch.cumsum(counts, 0)
    doc = torch.repeat_interleave(torch.arange(len(lengths), device=cu_seqlens.device), counts)  # [C]
    rank = torch.arange(len(doc), device=cu_seqlens.device) - cu_chunks[doc]
    first = cu_seqlens[doc] + rank * chunk_size
    size = torch.minimum(cu_seqlens[doc + 1] - first, torch.full_like(first, chunk_size))
    return cu_chunks, first, size


@triton.jit
def _pool(x, first, size, out, F, BLOCK_T: tl.constexpr, BLOCK_F: tl.constexpr, STEPS: tl.constexpr):
    chunk = tl.program_id(0)
    feats = tl.program_id(1) * BLOCK_F + tl.arange(0, BLOCK_F)
    start = tl.load(first + chunk).to(tl.int64)
    n = tl.load(size + chunk)
    acc = tl.zeros((BLOCK_F,), dtype=tl.float32)
    for step in tl.static_range(STEPS):
        toks = step * BLOCK_T + tl.arange(0, BLOCK_T)
        mask = (toks[:, None] < n) & (feats[None, :] < F)
        tile = tl.load(x + (start + toks[:, None]) * F + feats[None, :], mask=mask, other=0.0)
        acc += tl.sum(tile.to(tl.float32), axis=0)
    mean = acc / tl.maximum(n, 1).to(tl.float32)
    tl.store(out + chunk.to(tl.int64) * F + feats, mean.to(out.dtype.element_ty), mask=feats < F)


def chunk_pool(x: Tensor, cu_seqlens: Tensor, chunk_size: int, out: Tensor | None = None
               ) -> tuple[Tensor, Tensor]:
    """x [T, G, D] packed documents -> (pooled [C, G, D] in x's dtype, cu_chunks [N+1]) as the oracle."""
    cu_chunks, first, size = chunk_geometry(cu_seqlens, chunk_size)
    c, features = first.shape[0], x.shape[1] * x.shape[2]
    if out is None:
        out = torch.empty((c, *x.shape[1:]), dtype=x.dtype, device=x.device)
    if c:
        block_t = min(64, triton.next_power_of_2(chunk_size))
        block_f = min(256, triton.next_power_of_2(features))
        grid = (c, triton.cdiv(features, block_f))
        _pool[grid](x.contiguous(), first, size, out, features, BLOCK_T=block_t, BLOCK_F=block_f,
                    STEPS=triton.cdiv(chunk_size, block_t), num_warps=4)
    return out, cu_chunks
