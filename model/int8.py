"""int8 weights for one-token forwards on the CPU: a decoding step (and a prompt's last-token head) reads
every weight once for one row of activations, so it is bound by memory, and a weight read as int8 halves
that against bf16 (docs/benchmarks.md). Prompts (many rows, bound by compute) keep the dense weights.

Symmetric per-output-channel quantization; the matmul is `aten._weight_int8pack_mm` (bf16 activations). That
kernel returns wrong numbers without an error, or crashes, when in-features are not a multiple of 16 (seen on
AVX-512), so it is used only where they are a multiple of `IN_FEATURES_MULTIPLE`, and each copy is checked
against its dequantized weight when made and not used if it differs.
"""

from __future__ import annotations

import logging

import torch
from torch import Tensor, nn

log = logging.getLogger(__name__)

IN_FEATURES_MULTIPLE = 64  # every projection of SmolLM2 and Qwen3 geometries; 16 would do on AVX-512
PROBE_TOLERANCE = 0.02  # relative to the largest output: bf16 rounding of a sum of in-features products


def int8_per_channel(w: Tensor) -> tuple[Tensor, Tensor]:
    """w [out, in] -> (int8 [out, in], bf16 scales [out]): symmetric, one scale per output channel."""
    wf = w.to(torch.float32, copy=True)  # its own copy: divided in place below
    scale = (wf.abs().amax(1) / 127).clamp_min(1e-12).bfloat16()
    return torch.round(wf.div_(scale.float()[:, None])).clamp_(-127, 127).to(torch.int8), scale


class Int8Weight:
    """An int8 copy of a weight [out, in] for one-row inputs: x [1, in] -> x @ w.T [1, out] in x's dtype."""

    def __init__(self, w8: Tensor, scale: Tensor) -> None:
        self.w8, self.scale = w8, scale

    @classmethod
    def of(cls, weight: Tensor) -> Int8Weight | None:
        """The copy of a CPU weight, or None where int8 does not apply or the kernel is wrong for its shape."""
        if weight.device.type != "cpu" or weight.ndim != 2 or weight.shape[1] % IN_FEATURES_MULTIPLE:
            return None
        copy = cls(*int8_per_channel(weight.detach()))
        probe = torch.randn(1, weight.shape[1], generator=torch.Generator().manual_seed(0)).bfloat16()
        want = (probe.float() @ copy.w8.T.float()) * copy.scale.float()  # [1, out]; float32 is ample for 2%
        try:
            got = torch.ops.aten._weight_int8pack_mm(probe, copy.w8, copy.scale).float()
        except (RuntimeError, AttributeError, NotImplementedError):  # a torch build without the CPU kernel
            log.warning("int8 decoding off: this torch build has no CPU int8 matmul")
            return None
        if not (got - want).abs().max() <= PROBE_TOLERANCE * want.abs().max().clamp_min(1e-6):
            log.warning("int8 decoding off for a weight of shape %s: the CPU kernel disagrees with the "
                        "dequantized weight", tuple(weight.shape))
            return None
        return copy

    def dequantized(self) -> Tensor:
        """[out, in] float64: the weight this copy stands for (the tests' oracle)."""
        return self.w8.double() * self.scale.double()[:, None]

    def __call__(self, x: Tensor) -> Tensor:
        return torch.ops.aten._weight_int8pack_mm(x.bfloat16().contiguous(), self.w8, self.scale).to(x.dtype)


class OneTokenInt8(nn.Module):
    """A bias-free linear layer whose one-row forwards use an int8 copy of its weight; others the layer."""

    def __init__(self, linear: nn.Linear, copy: Int8Weight) -> None:
        super().__init__()
        self.linear, self.copy = linear, copy

    def forward(self, x: Tensor) -> Tensor:
        return self.copy(x) if one_row(x) else self.linear(x)


def one_row(x: Tensor) -> bool:
    """Whether a forward may use an int8 copy: one row [1, in] and no gradient wanted (the kernel has none)."""
    return x.ndim == 2 and x.shape[0] == 1 and not (x.requires_grad and torch.is_grad_enabled())
