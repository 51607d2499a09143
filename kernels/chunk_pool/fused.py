"""Varlen chunk mean pooling in one Triton kernel: each program sums one chunk's tokens for a block of
features in fp32 and writes their mean — every input element is read once, every output written once;
tile shapes autotuned per feature width.

Chunk geometry (first token, token count) comes from cu_seqlens in a few O(chunks) torch ops.
"""

from __future__ import annotations

import os

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


def _configs() -> list[triton.Config]:
    """Tile shapes tried once per feature width on a GPU; one fixed choice under the interpreter."""
    if os.environ.get("TRITON_INTERPRET") == "1":
        return [triton.Config({"BLOCK_T": 64, "BLOCK_F": 256}, num_warps=4)]
    return [triton.Config({"BLOCK_T": t, "BLOCK_F": f}, num_warps=w)
            for t, f, w in ((64, 256, 4), (32, 512, 8), (16, 1024, 8), (16, 512, 4), (8, 1024, 8))]


@triton.autotune(configs=_configs(), key=["F", "CHUNK"])
@triton.jit
def _pool(x, first, size, out, F, CHUNK: tl.constexpr, BLOCK_T: tl.constexpr, BLOCK_F: tl.constexpr):
    chunk = tl.program_id(0)
    feats = tl.program_id(1) * BLOCK_F + tl.arange(0, BLOCK_F)
    start = tl.load(first + chunk).to(tl.int64)
    n = tl.load(size + chunk)
    acc = tl.zeros((BLOCK_F,), dtype=tl.float32)
    for step in tl.range(0, CHUNK, BLOCK_T):
        toks = step + tl.arange(0, BLOCK_T)
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
        _pool[lambda meta: (c, triton.cdiv(features, meta["BLOCK_F"]))](
            x.contiguous(), first, size, out, features, CHUNK=chunk_size)
    return out, cu_chunks
