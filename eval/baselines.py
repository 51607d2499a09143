"""Plain retrieval baselines for bench scripts: BM25 (`bm25s`) and MiniLM-L6 exact cosine search.

Both return, for every question, memory indices best first (at most `k`). Needs `pip install -e ".[eval]"`.
"""

from __future__ import annotations

import torch

BASELINES = ("bm25", "minilm")


def bm25_rankings(memories: list[str], questions: list[str], k: int = 16) -> list[list[int]]:
    """Okapi BM25 over lower-cased word tokens with English stopwords removed (bm25s defaults)."""
    import bm25s

    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(memories, stopwords="en", show_progress=False), show_progress=False)
    tokens = bm25s.tokenize(questions, stopwords="en", show_progress=False)
    found, _ = retriever.retrieve(tokens, k=min(k, len(memories)), show_progress=False)
    # A question sharing no word with any memory gets zero scores: its order is arbitrary, as BM25's is.
    return [list(map(int, row)) for row in found]


def minilm_rankings(memories: list[str], questions: list[str], k: int = 16) -> list[list[int]]:
    """all-MiniLM-L6-v2 as sentence-transformers runs it: mean pooling over tokens, L2-normalised."""
    from msa.model.train.teacher import minilm_embed

    scores = minilm_embed(questions) @ minilm_embed(memories).T
    order = torch.sort(scores, dim=1, descending=True, stable=True).indices[:, :k]
    return order.tolist()


def rankings(name: str, memories: list[str], questions: list[str], k: int = 16) -> list[list[int]]:
    if name == "bm25":
        return bm25_rankings(memories, questions, k)
    if name == "minilm":
        return minilm_rankings(memories, questions, k)
    raise ValueError(f"unknown baseline {name!r}: one of {BASELINES}")
