"""Memory Parallel's selection maths: which rank owns a document, what a rank sends for a top k, and the merge
of every rank's candidates; the merged top k is exactly the single-device top k."""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import Tensor

from msa.kernels.route import top_k_rows


def assign(sizes: Iterable[tuple[int, int]], world: int, loads: list[int] | None = None) -> dict[int, int]:
    """(ordinal, routing-key bytes) -> owner rank: in the given order, each to the rank holding the fewest
    bytes so far, ties to the lower rank. `loads` (bytes per rank) is updated in place when given."""
    loads = [0] * world if loads is None else loads
    owner = {}
    for ordinal, nbytes in sizes:
        rank = min(range(world), key=lambda r: (loads[r], r))
        owner[ordinal] = rank
        loads[rank] += nbytes
    return owner


def candidates(table: Tensor, ordinals: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """A rank's scores [B, L, n] of its live documents (ordinals [n] ascending) for B questions -> what it sends
    for the top k: (ordinals [B, R * k], scores [B, L, R * k]) of the best k of each layer and, for several
    layers, of their mean and max (R = L + 2, else 1), with every layer's score of each. The global top k of
    any of those rows is among the ranks' candidates, with the same scores and ties (lower ordinal first).
    -1 pads (fewer than k documents); a document may appear more than once."""
    questions, layers, n = table.shape
    device = table.device
    ranked = ranked_rows(table)
    rows = ranked.shape[1]
    if not n:
        return (torch.full((questions, rows * k), -1, dtype=torch.int64, device=device),
                torch.full((questions, layers, rows * k), float("-inf"), device=device))
    idx, vals = (t.to(device) for t in top_k_rows(ranked.reshape(questions * rows, n), k))  # [B * R, m]
    m = idx.shape[1]
    chosen = torch.where(vals > float("-inf"), ordinals[idx], -1).reshape(questions, rows, m)
    scores = table.gather(2, idx.reshape(questions, 1, rows * m).expand(questions, layers, rows * m))
    return (F.pad(chosen, (0, k - m), value=-1).view(questions, rows * k),  # pads, no scatter: nothing waits
            F.pad(scores.view(questions, layers, rows, m), (0, k - m), value=float("-inf")).view(
                questions, layers, rows * k))


def ranked_rows(table: Tensor) -> Tensor:
    """Scores [..., L, n] -> the rows a selection ranks [..., R, n]: each layer's, then for several layers their
    mean and max (R = L + 2, else 1)."""
    if table.shape[-2] == 1:
        return table
    return torch.cat([table, table.mean(-2, keepdim=True), table.amax(-2, keepdim=True)], -2)


def merge(replies: list[tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor]:
    """Every rank's candidates -> (ordinals [C] ascending, scores [L, C]) without pads and repeats."""
    ordinals = torch.cat([o for o, _ in replies])
    scores = torch.cat([v for _, v in replies], dim=1)
    keep = ordinals >= 0
    ordinals, scores = ordinals[keep], scores[:, keep]
    order = torch.argsort(ordinals, stable=True)
    ordinals, scores = ordinals[order], scores[:, order]
    first = torch.ones_like(ordinals, dtype=torch.bool)
    first[1:] = ordinals[1:] != ordinals[:-1]  # a repeat carries the same scores
    return ordinals[first], scores[:, first]
