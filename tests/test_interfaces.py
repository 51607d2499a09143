"""Declared seams (issue 18): the servicer reaches the store, the index and the model only through the
engine; nothing outside model/ reads the model's internals; every implementation of a Protocol offers
all of its members."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path
from typing import Protocol

import pytest

from msa.memstore.index.protocols import LayerView, RoutingIndexInterface, RoutingSnapshot
from msa.memstore.index.routing_index import RoutingIndex, SlabSnapshot, SlabView
from msa.memstore.index.sharding import ShardedRoutingIndex, ShardedSnapshot, ShardedView
from msa.memstore.index.store_memory import StoreMemory
from msa.model.memory import Memory, ReadableMemory

ROOT = Path(__file__).resolve().parents[1]
BELOW_THE_ENGINE = ("msa.memstore.storage", "msa.memstore.index", "msa.model")
ENGINE_PARTS = {"store", "index", "model", "cache"}
MODEL_INTERNALS = {"transformer", "tokenizer", "max_position_embeddings"}


def reaches(source: str, attributes: set[str], modules: tuple[str, ...] = ()) -> list[str]:
    """Where `source` accesses one of `attributes` or imports from one of `modules` (as 'line: what')."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr in attributes:
            found.append(f"{node.lineno}: .{node.attr}")
        names = ([node.module or ""] if isinstance(node, ast.ImportFrom)
                 else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
        found += [f"{node.lineno}: import {n}" for n in names if n.startswith(modules)] if modules else []
    return found


def test_the_servicer_only_talks_to_the_engine():
    source = (ROOT / "memstore/server/service.py").read_text()
    assert reaches(source, ENGINE_PARTS, BELOW_THE_ENGINE) == []


def test_the_scan_finds_what_it_guards_against():
    bypass = "from msa.memstore.storage.store import Store\nasync def Get(self, r, c):\n    self.engine.store.get()\n"
    assert reaches(bypass, ENGINE_PARTS, BELOW_THE_ENGINE) == ["1: import msa.memstore.storage.store", "3: .store"]


def test_nothing_outside_model_reads_its_internals():
    offenders = {str(path.relative_to(ROOT)): hits for path in (ROOT / "memstore").rglob("*.py")
                 if (hits := reaches(path.read_text(), MODEL_INTERNALS))}
    assert offenders == {}


def members(protocol: type) -> set[str]:
    """The names a Protocol declares: its annotated attributes and its methods and properties."""
    names = set(getattr(protocol, "__annotations__", {}))
    for name, value in vars(protocol).items():
        if callable(value) or isinstance(value, property):
            names.add(name)
    return {n for n in names if not n.startswith("_") or n in ("__len__", "__contains__", "__getitem__", "__iter__")}


def offers(cls: type, name: str) -> bool:
    """A class attribute, method or property, a dataclass field, or an attribute its __init__ sets."""
    if hasattr(cls, name) or name in getattr(cls, "__dataclass_fields__", {}):
        return True
    init = ast.parse(inspect.getsource(cls.__init__).strip())
    return any(isinstance(n, ast.Attribute) and n.attr == name and isinstance(n.ctx, ast.Store)
               for n in ast.walk(init))


@pytest.mark.parametrize(("protocol", "implementations"), [
    (ReadableMemory, [Memory, StoreMemory]),
    (RoutingIndexInterface, [RoutingIndex, ShardedRoutingIndex]),
    (LayerView, [SlabView, ShardedView]),
    (RoutingSnapshot, [SlabSnapshot, ShardedSnapshot]),
])
def test_every_implementation_offers_every_member(protocol, implementations):
    assert issubclass(protocol, Protocol) and members(protocol)
    for implementation in implementations:
        missing = {name for name in members(protocol) if not offers(implementation, name)}
        assert not missing, f"{implementation} lacks {missing} of {protocol.__name__}"


def test_the_conformance_check_sees_a_missing_member():
    class Partial:
        def __init__(self) -> None:
            self.slot_ordinal = None

        def route(self, queries, spec, k): ...

    assert {name for name in members(ReadableMemory) if not offers(Partial, name)} == \
        {"__len__", "__contains__", "__getitem__", "chunks"}
    assert {name for name in members(LayerView) if not offers(Partial, name)} == {"device", "alive"}


def test_protocol_methods_keep_the_implementations_signatures():
    """The engine and the model call these with the same arguments whichever implementation it is."""
    for name in ("route", "chunks"):
        declared = list(inspect.signature(getattr(ReadableMemory, name)).parameters)
        for implementation in (Memory, StoreMemory):
            assert list(inspect.signature(getattr(implementation, name)).parameters) == declared
    for name in ("snapshot", "patch", "drop"):
        declared = list(inspect.signature(getattr(RoutingIndexInterface, name)).parameters)
        for implementation in (RoutingIndex, ShardedRoutingIndex):
            assert list(inspect.signature(getattr(implementation, name)).parameters) == declared
