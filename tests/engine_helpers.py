"""Engines over a real store and a tiny random model, and a spy on what they read, for engine tests."""

from __future__ import annotations

from pathlib import Path

from msa.memstore.engine import Engine
from msa.model.api import MSAModel


def tiny_engine(checkpoint, path: Path, **options) -> Engine:
    """A new store at `path` with namespace "n", on the CPU; `options` go to `Engine.open`."""
    model = MSAModel.from_pretrained(checkpoint("qwen3", pooling_kernel_size=4), device="cpu")
    engine = Engine.open(path, model, create=True, **options)
    engine.create_namespace("n")
    return engine


def spy_reads(engine: Engine) -> set[int]:
    """Every ordinal whose K/V or record the engine fetches from here on."""
    seen: set[int] = set()
    get, by_ordinals = engine.cache.get, engine.store.by_ordinals
    engine.cache.get = lambda ns, ordinals, layer: seen.update(ordinals) or get(ns, ordinals, layer)
    engine.store.by_ordinals = lambda ns, ordinals: seen.update(ordinals) or by_ordinals(ns, ordinals)
    return seen
