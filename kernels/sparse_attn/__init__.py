"""sparse_attn: attention of question and decoding tokens over [selected memory chunks; local K/V].

`sparse_attention` takes the Triton kernel (`fused.py`, memory rows read through their index) for CUDA
tensors in the kernel's dtypes, blocked float32 matmuls on the CPU when no gradient is wanted (`cpu.py`), and
the plain-torch path (`naive.py`: gather, concatenate, SDPA) otherwise.
"""

from torch import Tensor

from msa.kernels.checks import FLOATS
from msa.kernels.sparse_attn import cpu, fused, naive
from msa.kernels.sparse_attn.naive import MemoryRows


def sparse_attention(q: Tensor, k: Tensor, v: Tensor, scale: float, memory: MemoryRows | None = None) -> Tensor:
    """q [Tq, H, D] over memory rows (all visible) and local k / v [L, G, D], bottom-right causal -> [Tq, H, D]."""
    if q.is_cuda and q.dtype in FLOATS and (memory is None or memory.k.dtype == k.dtype):
        return fused.sparse_attention(q, k, v, scale, memory)
    if cpu.applies(q, k, v):
        return cpu.sparse_attention(q, k, v, scale, memory)
    return naive.sparse_attention(q, k, v, scale, memory)


__all__ = ["MemoryRows", "sparse_attention"]
