"""Content K/V cache: hits, byte budget, invalidation."""

from __future__ import annotations

import torch

from msa.memstore.index.content_cache import ContentCache
from tests.store_helpers import LAYERS, doc, open_store


def test_cache_hits_evicts_and_invalidates(tmp_path, device):
    with open_store(tmp_path / "s") as store:
        store.create_namespace("n")
        docs = [doc(f"d{i}", "q" * 40, seed=i) for i in range(6)]
        store.write("n", docs)
        one = sum(t.numel() * t.element_size() for t in (docs[0].encoding.keys[LAYERS[0]],
                                                          docs[0].encoding.values[LAYERS[0]]))
        cache = ContentCache(store, budget_bytes=3 * one)
        got = cache.get("n", [0, 1, 99], LAYERS[0])
        assert sorted(got) == [0, 1] and cache.misses == 3
        assert torch.equal(got[1][0], docs[1].encoding.keys[LAYERS[0]])
        cache.get("n", [0, 1], LAYERS[0])
        assert cache.hits == 2
        cache.get("n", [2, 3, 4], LAYERS[0])
        assert cache.bytes <= 3 * one and len(cache.entries) == 3
        new = doc("d3", "other text entirely", seed=42)
        store.write("n", [new], mode="upsert")
        cache.invalidate("n", [3])
        assert torch.equal(cache.get("n", [3], LAYERS[0])[3][0], new.encoding.keys[LAYERS[0]])
