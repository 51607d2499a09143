"""chunk_pool: per-document mean pooling of K, V and routing K over fixed-size token chunks.

`chunk_pool` takes the Triton kernel (`fused.py`) for CUDA tensors and the plain-torch oracle
(`naive.py`) on the CPU.
"""

from torch import Tensor

from msa.kernels.chunk_pool import fused, naive
from msa.kernels.chunk_pool.naive import chunk_counts


def chunk_pool(x: Tensor, cu_seqlens: Tensor, chunk_size: int) -> tuple[Tensor, Tensor]:
    """x [T, G, D] packed documents with boundaries cu_seqlens [N+1] -> (pooled [C, G, D], cu_chunks [N+1])."""
    if x.is_cuda:
        return fused.chunk_pool(x, cu_seqlens, chunk_size)
    return naive.chunk_pool(x, cu_seqlens, chunk_size)


__all__ = ["chunk_counts", "chunk_pool"]
