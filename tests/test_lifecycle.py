"""Memory lifecycle with a controllable clock: an expired memory is invisible at once (Get, List, Retrieve,
Query: never scored, read or cited) and reclaimed later by the reaper into the history; earlier versions are
kept up to the namespace's bound and readable (Get at a version, History)."""

from __future__ import annotations

import pytest

from msa.memstore.engine import Engine, WriteItem
from msa.memstore.errors import InvalidArgument, NotFound
from tests.engine_helpers import spy_reads, tiny_engine


class Clock:
    """Now, moved by the test."""

    def __init__(self, t: float = 1_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def engine(checkpoint, tmp_path, clock):
    eng = tiny_engine(checkpoint, tmp_path / "store", clock=clock, reap_every_s=0)
    yield eng
    eng.close()


def visible(engine: Engine, question: str = "Where does Rex live?") -> dict[str, set[str]]:
    docs, _ = engine.list("n")
    *_, kv = engine.query("n", question, max_new_tokens=2, top_k=4, read_mode="kv")
    *_, text = engine.query("n", question, max_new_tokens=2, top_k=4, read_mode="text")
    return {"list": {d.id for d in docs}, "retrieve": {c.id for c in engine.retrieve("n", question, top_k=8)},
            "kv": {c.id for c in kv.citations}, "text": {c.id for c in text.citations}}


def test_an_expired_memory_is_invisible_at_once_then_reclaimed(engine, clock):
    in_ten = engine.expiry(ttl_seconds=10)
    engine.write("n", [WriteItem("Rex is a dog who lives in Paris.", id="rex", expires_at=in_ten),
                       WriteItem("Anna works at a bakery in Lyon.", id="anna"),
                       WriteItem("Marta plays the cello.", id="marta", expires_at=clock.t + 3600)])
    assert engine.get("n", "rex").expires_at == clock.t + 10
    assert visible(engine)["retrieve"] == {"rex", "anna", "marta"}
    rex = engine.get("n", "rex").ordinal
    clock.t += 10  # the moment it expires
    seen = spy_reads(engine)
    assert all(ids == {"anna", "marta"} for ids in visible(engine).values())
    assert rex not in seen, "an expired memory's K/V or text was read"
    with pytest.raises(NotFound):
        engine.get("n", "rex")
    with pytest.raises(NotFound):
        engine.delete("n", ["rex"])
    assert engine.store.namespace("n").documents == 3  # still stored until reclaimed
    assert engine.reap() == 1 and engine.reap() == 0
    space = engine.store.namespace("n")
    assert (space.documents, space.expiring) == (2, 1)  # marta still expires later
    (gone,) = engine.history("n", "rex")
    assert (gone.version, gone.deleted_at, gone.text) == (1, clock.t, "Rex is a dog who lives in Paris.")
    clock.t += 3600
    assert engine.reap() == 1 and engine.store.namespace("n").expiring == 0
    assert visible(engine)["retrieve"] == {"anna"}


def test_expiry_can_be_set_moved_and_cleared(engine, clock):
    engine.write("n", [WriteItem("Rex is a dog who lives in Paris.", id="rex")])
    engine.update("n", "rex", expires_at=clock.t + 5)
    clock.t += 4
    engine.update("n", "rex", expires_at=0.0)  # never, after all
    clock.t += 100
    assert engine.get("n", "rex").version == 3 and engine.reap() == 0
    engine.update("n", "rex", expires_at=clock.t + 1)
    ended = clock.t + 1
    assert engine.history("n", "rex")[0].deleted_at == 0
    clock.t += 2
    assert engine.history("n", "rex")[0].deleted_at == ended  # expired, not reclaimed yet
    engine.write("n", [WriteItem("Rex moved to Rome.", id="rex")])  # an expired id is free to create again
    rex = engine.get("n", "rex")
    assert (rex.text, rex.version, rex.created_at, rex.expires_at) == ("Rex moved to Rome.", 5, clock.t, 0)
    assert [(d.version, d.deleted_at) for d in engine.history("n", "rex")][:2] == [(5, 0), (4, ended)]
    assert visible(engine)["retrieve"] == {"rex"}
    with pytest.raises(InvalidArgument, match="not both"):
        engine.expiry(clock.t + 5, 5)
    with pytest.raises(InvalidArgument, match="positive"):
        engine.expiry(ttl_seconds=-1)
    with pytest.raises(InvalidArgument, match="expires_at"):
        engine.write("n", [WriteItem("x", expires_at=float("nan"))])


def test_history_keeps_the_namespaces_bound_and_reads_any_kept_version(engine, clock):
    engine.create_namespace("h", history=2)
    engine.write("h", [WriteItem("v1: Ada drinks tea.", {"k": "1"}, "ada")])
    for i in (2, 3, 4):
        clock.t += 1
        if i == 3:
            engine.update("h", "ada", metadata={"k": "3"})
        else:
            engine.update("h", "ada", text=f"v{i}: Ada drinks coffee {i}.")
    assert [d.version for d in engine.history("h", "ada")] == [4, 3, 2]  # current + the 2 kept
    assert engine.get("h", "ada", version=2).text == "v2: Ada drinks coffee 2."
    assert engine.get("h", "ada", version=3).metadata == {"k": "3"}
    with pytest.raises(NotFound, match="not kept"):
        engine.get("h", "ada", version=1)
    engine.delete("h", ["ada"])
    history = engine.history("h", "ada")
    assert [(d.version, bool(d.deleted_at)) for d in history] == [(4, True), (3, False)]
    clock.t += 1
    engine.write("h", [WriteItem("v5: a new Ada, after the delete.", id="ada")])  # numbering goes on
    assert [(d.version, d.created_at == clock.t) for d in engine.history("h", "ada")] == [(5, True), (4, False),
                                                                                      (3, False)]
    assert engine.get("h", "ada", version=4).text == "v4: Ada drinks coffee 4."
    engine.create_namespace("none", history=0)
    engine.write("none", [WriteItem("once", id="x")])
    engine.update("none", "x", text="twice")
    assert [d.version for d in engine.history("none", "x")] == [2]
    engine.delete_namespace("h")
    engine.create_namespace("h")
    with pytest.raises(NotFound):  # a namespace deleted takes its history with it
        engine.history("h", "ada")
