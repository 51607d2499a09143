"""A filter's documents as routing reads them: a mask over ordinals on the routing device.

A mask is built from the attribute table's columns with no host synchronisation and no list of ordinals, and
asking whether some ordinals pass is one gather; a list of the passing ordinals (one synchronisation) is made
only where one is needed (a sharded index's message).
"""

from __future__ import annotations

import torch
from torch import Tensor


class Passing:
    """Which ordinals a filter passes: mask [bound] bool, True where it passes. Ordinals at or past `bound`
    (documents written after the filter ran) do not pass."""

    def __init__(self, mask: Tensor) -> None:
        if mask.dtype != torch.bool or mask.ndim != 1:
            raise ValueError(f"a passing mask is [bound] bool, got {tuple(mask.shape)} {mask.dtype}")
        self.mask = mask

    @classmethod
    def where(cls, ordinals: Tensor, passes: Tensor | bool, bound: int, device: torch.device | None = None
              ) -> Passing:
        """Ordinals [n] and whether each passes ([n] bool, or one bool for all) -> the mask over [0, bound) on
        `device` (the ordinals' by default). Ordinals at or past `bound`, and negative ones (a table's dead rows),
        are dropped; any other ordinal must appear once."""
        device = ordinals.device if device is None else device
        here = ordinals.to(device)
        mask = torch.zeros(bound + 1, dtype=torch.bool, device=device)  # a spare slot for the dropped ones
        spare = torch.where((here < 0) | (here > bound), bound, here)
        mask[spare] = passes.to(device) if isinstance(passes, Tensor) else passes
        return cls(mask[:bound])

    @classmethod
    def of(cls, ordinals: Tensor, bound: int, device: torch.device | None = None) -> Passing:
        """A list of passing ordinals [n] -> its mask over [0, bound)."""
        return cls.where(ordinals, True, bound, device)

    @property
    def bound(self) -> int:
        return len(self.mask)

    @property
    def device(self) -> torch.device:
        return self.mask.device

    def at(self, ordinals: Tensor) -> Tensor:
        """[n] bool on the ordinals' device: whether each passes (no host synchronisation when the ordinals are
        on the mask's device; a negative ordinal never passes)."""
        if not self.bound:
            return torch.zeros(ordinals.shape, dtype=torch.bool, device=ordinals.device)
        here = ordinals.to(self.device)
        inside = (here >= 0) & (here < self.bound)
        return (self.mask[here.clamp(0, self.bound - 1)] & inside).to(ordinals.device)

    def ordinals(self) -> Tensor:
        """The passing ordinals [N] int64, ascending, on the mask's device (one host synchronisation)."""
        return self.mask.nonzero().squeeze(1)
