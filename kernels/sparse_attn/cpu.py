"""One decoding step on the CPU: a single query token sees every key (the memory rows and the whole local
cache are all in its past), so it needs no mask, and grouped-query attention runs as two batched matmuls per
KV head group: one SDPA call with a group's query heads as its queries, against the group's own K/V. SDPA's
grouped-query path instead copies K and V out to every query head first (2-3x slower per layer on two cores,
where decoding is what a user waits for). Scores stay in SDPA's precision (not rounded to bf16)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from msa.kernels.sparse_attn.naive import MemoryRows, with_memory


def single_token(q: Tensor, k: Tensor, v: Tensor, scale: float, memory: MemoryRows | None = None) -> Tensor:
    """q [1, H, D] over memory rows and local k / v [L, G, D] -> [1, H, D] in q's dtype (`naive.sparse_attention`
    for one query token). Query head i reads KV head i // (H / G), as SDPA's grouped-query attention does."""
    k, v = with_memory(k, v, memory)
    heads, dim = q.shape[1:]
    groups = k.shape[1]
    per_group = q[0].reshape(groups, heads // groups, dim)  # [G, H/G, D]: a group's heads as its queries
    out = F.scaled_dot_product_attention(per_group, k.transpose(0, 1), v.transpose(0, 1), scale=scale)
    return out.reshape(1, heads, dim)  # [G, H/G, D] -> [1, H, D]
