"""Batch tokenization: what a bulk write tokenizes on all cores is what one text at a time gives."""

from __future__ import annotations

from msa.model.tokenizer import Tokenizer

TEXTS = ["Rex is a dog who lives in Paris.", "", "naïve café — 東京 🐕", "word " * 300, "x"]


def test_encode_many_is_encode_of_each(checkpoint):
    tok = Tokenizer(checkpoint("qwen3"))
    assert tok.encode_many(TEXTS) == [tok.encode(t) for t in TEXTS]


def test_counts_keep_their_texts_order_whichever_are_refused(checkpoint):
    tok = Tokenizer(checkpoint("qwen3"))
    lengths = [len(tok.encode(t)) for t in TEXTS]
    limit = 30
    huge = "y" * (limit * tok.max_token_bytes + 1)  # refused from its size, never tokenized
    dense = "q" * (limit + 5)  # within the size bound, over the limit once counted
    assert len(dense.encode()) <= limit * tok.max_token_bytes and len(tok.encode(dense)) > limit
    got = tok.count_within([TEXTS[0], huge, dense, TEXTS[2], TEXTS[4]], limit)
    assert max(lengths[0], lengths[2], lengths[4]) <= limit  # refused by size, then by count, between kept ones
    assert got == [lengths[0], None, None, lengths[2], lengths[4]]
