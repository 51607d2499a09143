"""route: routing scores of a question against pooled routing keys, reduced per document, and top-k."""

from msa.kernels.route.naive import RouteSpec, chunk_scores, doc_scores, route_scores, top_k

__all__ = ["RouteSpec", "chunk_scores", "doc_scores", "route_scores", "top_k"]
