"""Varlen chunk mean pooling in plain torch (the oracle and the CPU path).

Each document is cut into chunks of `chunk_size` tokens from its own start; a last partial chunk is
averaged over its true length; chunks never cross documents. Sums accumulate in fp32.
"""

from __future__ import annotations

import torch
from torch import Tensor


def chunk_counts(lengths: Tensor, chunk_size: int) -> Tensor:
    """Chunks per document: ceil(length / chunk_size). [N] -> [N]."""
    return (lengths + chunk_size - 1) // chunk_size


def chunk_pool(x: Tensor, cu_seqlens: Tensor, chunk_size: int) -> tuple[Tensor, Tensor]:
    """x [T, G, D] packed documents with boundaries cu_seqlens [N+1] -> (pooled [C, G, D], cu_chunks [N+1]).

    The output has the input's dtype; cu_chunks[i]:cu_chunks[i+1] are document i's chunks.
    """
    lengths = cu_seqlens[1:] - cu_seqlens[:-1]  # [N]
    counts = chunk_counts(lengths, chunk_size)
    cu_chunks = torch.zeros_like(cu_seqlens)
    cu_chunks[1:] = torch.cumsum(counts, 0)
    doc = torch.repeat_interleave(torch.arange(len(lengths), device=x.device), lengths)  # [T]
    rank = torch.arange(x.shape[0], device=x.device) - cu_seqlens[doc]  # token index inside its document
    chunk = cu_chunks[doc] + rank // chunk_size  # [T] global chunk id
    n_chunks = int(cu_chunks[-1])
    sums = torch.zeros((n_chunks, *x.shape[1:]), dtype=torch.float32, device=x.device)
    sums.index_add_(0, chunk, x.float())
    tokens = torch.bincount(chunk, minlength=n_chunks).clamp_min(1).to(torch.float32)  # [C]
    return (sums / tokens[:, None, None]).to(x.dtype), cu_chunks
