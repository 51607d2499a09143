"""fp8 routing keys: e4m3 values, one scale per (chunk, KV head), and the inverse norms cosine routing needs.

Each [D] vector of a chunk's KV head is quantised on its own: scale = amax / 448 maps its largest element to
e4m3's largest finite value, values = round(k / scale). A cosine score does not depend on the scale (it
cancels), only on the values' norm, so that is kept too: the kernel multiplies each head's dot product by
one per-row factor, 1 / |values| for cosine scores and the scale for plain dot products, and reads only
that one ([C, G] fp32, 32 bytes beside a chunk's 1,024 in MSA-4B geometry).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

E4M3_MAX = 448.0
EPS = 1e-12  # F.normalize's: a zero vector scores 0


@dataclass(frozen=True)
class Fp8Keys:
    """Quantised routing keys of C chunks."""

    values: Tensor  # [C, G, D] float8_e4m3fn
    scale: Tensor  # [C, G] fp32: keys ~= values * scale
    inv_norm: Tensor  # [C, G] fp32: 1 / max(|values|, EPS), computed in fp32

    @property
    def shape(self) -> torch.Size:
        return self.values.shape

    @property
    def device(self) -> torch.device:
        return self.values.device

    @property
    def nbytes(self) -> int:
        """Bytes a cosine (or a dot-product) scan reads: the values and one fp32 factor per row."""
        return self.values.numel() + self.scale.numel() * 4

    def dequantize(self) -> Tensor:
        """[C, G, D] fp32."""
        return self.values.float() * self.scale[..., None]


def quantize(keys: Tensor) -> Fp8Keys:
    """keys [C, G, D] (any float dtype) -> Fp8Keys; round to nearest, a zero vector stays zero."""
    k = keys.float()
    amax = k.abs().amax(-1)  # [C, G]
    scale = torch.where(amax > 0, amax / E4M3_MAX, torch.ones_like(amax))
    values = (k / scale[..., None]).to(torch.float8_e4m3fn)
    inv_norm = 1.0 / values.float().norm(dim=-1).clamp_min(EPS)
    return Fp8Keys(values, scale, inv_norm)
