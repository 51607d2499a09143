"""Attention on the CPU in float32 matmuls, blocked over query rows: what prompts, decoding steps and document
encoding run there when no gradient is wanted.

Grouped-query attention runs with each KV head group as a batch entry and the group's query heads folded into
its rows, so K and V are never copied out per query head. Query rows go in blocks of `BLOCK_ROWS`: a block's
scores ([rows x heads per group, keys]) stay in cache, and it reads only the keys its last row sees (causal
blocks skip the rest). On two cores this costs 1.5-4x less than SDPA's bf16 path at 250-1,200 tokens (SDPA
takes its math path for grouped heads and its scores spill out of cache past ~600 tokens), and for one
decoding token 4-8x less past ~1,000 keys, upcasting included (docs/benchmarks.md). Scores, softmax and the
weighted sum are float32 for half-precision inputs, as SDPA's precision is (float64 stays float64).
"""

from __future__ import annotations

import torch
from torch import Tensor

from msa.kernels.sparse_attn.naive import MemoryRows, with_memory

BLOCK_ROWS = 128  # query rows per block


def applies(*tensors: Tensor) -> bool:
    """Whether these inputs take this path: on the CPU, and no gradient wanted (training keeps SDPA's backward)."""
    return tensors[0].device.type == "cpu" and not (torch.is_grad_enabled() and any(t.requires_grad for t in tensors))


def sparse_attention(q: Tensor, k: Tensor, v: Tensor, scale: float, memory: MemoryRows | None = None) -> Tensor:
    """q [Tq, H, D] over memory rows (all visible) and local k / v [L, G, D] (L >= Tq), bottom-right causal ->
    [Tq, H, D] in q's dtype (`naive.sparse_attention`)."""
    k, v = with_memory(k, v, memory)
    if q.shape[0] == 1:
        return single_token(q, k, v, scale)
    return causal_attention(q[None], k[None], v[None], scale)[0]


def single_token(q: Tensor, k: Tensor, v: Tensor, scale: float) -> Tensor:
    """One query token q [1, H, D] over all of k / v [L, G, D] -> [1, H, D]: two batched matmuls and no mask,
    a third of `causal_attention`'s ops (a decoding step makes one call per layer)."""
    heads, dim = q.shape[1:]
    groups = k.shape[1]
    work = torch.promote_types(q.dtype, torch.float32)
    per_group = q[0].reshape(groups, heads // groups, dim).to(work)  # [G, H/G, D]: a group's heads as its rows
    scores = torch.bmm(per_group, k.permute(1, 2, 0).to(work)).mul_(scale)  # [G, H/G, L]
    out = torch.bmm(torch.softmax(scores, dim=-1), v.transpose(0, 1).to(work))  # [G, H/G, D]
    return out.to(q.dtype).reshape(1, heads, dim)


def causal_attention(q: Tensor, k: Tensor, v: Tensor, scale: float) -> Tensor:
    """q [N, Tq, H, D], k / v [N, Tk, G, D] (Tk >= Tq), bottom-right causal: query i of each sequence sees its
    keys 0 .. Tk - Tq + i -> [N, Tq, H, D] in q's dtype. Query head h reads KV head h // (H / G)."""
    n, tq, heads, dim = q.shape
    tk, groups = k.shape[1], k.shape[2]
    if tk < tq:
        raise ValueError(f"causal attention needs at least as many keys as queries, got {tk} keys for {tq} queries")
    per = heads // groups
    work = torch.promote_types(q.dtype, torch.float32)
    queries = q.to(work).view(n, tq, groups, per, dim).transpose(1, 2).contiguous()  # [N, G, Tq, H/G, D]
    keys = k.to(work).permute(0, 2, 3, 1)  # [N, G, D, Tk]
    values = v.to(work).transpose(1, 2)  # [N, G, Tk, D]
    past = tk - tq  # keys every query sees
    out = torch.empty(n, groups, tq, per, dim, dtype=work, device=q.device)
    for a in range(0, tq, BLOCK_ROWS):
        b = min(a + BLOCK_ROWS, tq)
        seen = past + b  # keys the block's last row sees
        rows = queries[:, :, a:b].reshape(n, groups, (b - a) * per, dim)
        scores = torch.matmul(rows, keys[..., :seen]).mul_(scale)  # [N, G, rows x H/G, seen]
        if b - a > 1:  # every row but the block's last misses some of its keys
            later = torch.arange(seen) > past + torch.arange(a, b)[:, None]  # [rows, seen]
            scores.view(n, groups, b - a, per, seen).masked_fill_(later[:, None], float("-inf"))
        weighted = torch.matmul(torch.softmax(scores, dim=-1), values[..., :seen, :])  # [N, G, rows x H/G, D]
        out[:, :, a:b] = weighted.view(n, groups, b - a, per, dim)
    return out.transpose(1, 2).reshape(n, tq, heads, dim).to(q.dtype)
