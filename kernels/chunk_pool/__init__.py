"""chunk_pool: per-document mean pooling of K, V and routing K over fixed-size token chunks."""

from msa.kernels.chunk_pool.naive import chunk_counts, chunk_pool

__all__ = ["chunk_counts", "chunk_pool"]
