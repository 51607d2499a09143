"""One decoding step on the CPU: a single query token sees every key (the memory rows and the whole local
cache are all in its past), so it needs no mask, and grouped-query attention runs as two batched matmuls with
the KV head groups as the batch and each group's query heads as its rows, in float32 whatever the cache's
dtype. SDPA's grouped-query path instead copies K and V out to every query head first, and its bf16 math path
costs 4-8x more than float32 matmuls at 350-1,000 keys on two cores (upcasting the keys included), where
decoding is what a user waits for."""

from __future__ import annotations

import torch
from torch import Tensor

from msa.kernels.sparse_attn.naive import MemoryRows, with_memory


def single_token(q: Tensor, k: Tensor, v: Tensor, scale: float, memory: MemoryRows | None = None) -> Tensor:
    """q [1, H, D] over memory rows and local k / v [L, G, D] -> [1, H, D] in q's dtype (`naive.sparse_attention`
    for one query token). Query head i reads KV head i // (H / G), as SDPA's grouped-query attention does."""
    k, v = with_memory(k, v, memory)
    heads, dim = q.shape[1:]
    groups = k.shape[1]
    per_group = q[0].reshape(groups, heads // groups, dim).float()  # [G, H/G, D]: a group's heads as its rows
    scores = torch.bmm(per_group, k.permute(1, 2, 0).float()).mul_(scale)  # [G, H/G, L]
    out = torch.bmm(torch.softmax(scores, dim=-1), v.transpose(0, 1).float())  # [G, H/G, D]
    return out.to(q.dtype).reshape(1, heads, dim)
