"""Attention over [selected memory rows; local K/V] in plain torch (the oracle, and the CPU path when a gradient is
wanted).

The memory part is rows of a staged pool of compressed K/V (chunks of the documents routing picked),
read through an index instead of a gathered copy; the local part is the question's own cache (template
prefix, question, generated tokens). Softmax attention does not depend on key order, so memory rows may
come before or after the prefix: the result is that of MSA's [prefix; chunks; question] context.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass(frozen=True)
class MemoryRows:
    """Rows of a staged pool that one attention reads: k[rows], v[rows]."""

    k: Tensor  # [N, G, D] pooled keys (RoPE'd with document-local positions)
    v: Tensor  # [N, G, D] pooled values
    rows: Tensor  # [P] int64 indices into the pool
    count: Tensor | None = None  # [1] on the device: only rows[:count] are read (a graph's fixed-size buffers)

    @classmethod
    def whole(cls, k: Tensor, v: Tensor) -> MemoryRows:
        """Every row of k / v, in order."""
        return cls(k, v, torch.arange(k.shape[0], device=k.device))

    def gather(self) -> tuple[Tensor, Tensor]:
        """The selected rows as copies [P, G, D] (what the fused kernel avoids)."""
        rows = self.rows if self.count is None else self.rows[:int(self.count)]
        return self.k[rows], self.v[rows]


def with_memory(k: Tensor, v: Tensor, memory: MemoryRows | None) -> tuple[Tensor, Tensor]:
    """Local k / v [L, G, D] -> [memory rows; local] (copies, when there are memory rows)."""
    if memory is None or not memory.rows.numel():
        return k, v
    mk, mv = memory.gather()
    return torch.cat([mk.to(k.dtype), k]), torch.cat([mv.to(v.dtype), v])


def sparse_attention(q: Tensor, k: Tensor, v: Tensor, scale: float, memory: MemoryRows | None = None) -> Tensor:
    """GQA attention, q [Tq, H, D] over memory rows (all visible) and local k / v [L, G, D] (L >= Tq),
    bottom-right causal: query i sees local keys 0 .. L - Tq + i. -> [Tq, H, D] in q's dtype."""
    k, v = with_memory(k, v, memory)
    tq, tk = q.shape[0], k.shape[0]
    causal = tq > 1 and tq == tk  # square: SDPA's own causal mask, fused kernels allowed
    mask = None
    if tq > 1 and not causal:
        i = torch.arange(tq, device=q.device)[:, None]
        j = torch.arange(tk, device=q.device)[None, :]
        mask = j <= i + (tk - tq)  # [Tq, Tk]: memory rows sit in every query's past
    out = F.scaled_dot_product_attention(
        q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1),  # [heads, T, D]
        attn_mask=mask, is_causal=causal, scale=scale, enable_gqa=True)
    return out.transpose(0, 1)
