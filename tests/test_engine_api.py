"""The engine as the one API (issue 18): namespace listing and stats scoped by a grant passed explicitly,
one set of rules for a question's options, and write batching for in-process callers too."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import pytest

from msa.memstore.engine import Engine, QueryOptions, WriteItem
from msa.memstore.engine.results import Answer, Retrieval
from msa.memstore.errors import InvalidArgument, NotFound
from msa.model.api import MSAModel


@dataclass(frozen=True)
class ReadOnly:
    """A grant that reads the namespaces it names."""

    names: tuple[str, ...]

    @property
    def whole_store(self) -> bool:
        return False

    def allows(self, right: str, ns: str | None) -> bool:
        return right == "read" and ns in self.names


@pytest.fixture(scope="module")
def engine(checkpoint, tmp_path_factory):
    model = MSAModel.from_pretrained(checkpoint("qwen3", pooling_kernel_size=4))
    eng = Engine.open(tmp_path_factory.mktemp("engine-api") / "store", model, create=True)
    for ns in ("a", "b"):
        eng.create_namespace(ns)
        eng.write(ns, [WriteItem(f"A note of namespace {ns} about tea.", id="x")])
    eng.write("b", [WriteItem("Another note, about coffee.", id="y")])
    yield eng
    eng.close()


def test_listing_shows_only_what_the_grant_reads(engine):
    assert [s.name for s in engine.list_namespaces()[0]] == ["a", "b"]
    assert [s.name for s in engine.list_namespaces(grant=ReadOnly(("b",)))[0]] == ["b"]
    assert engine.list_namespaces(grant=ReadOnly(()))[0] == []


def test_stats_sum_the_namespaces_the_grant_reads(engine):
    everything, only_b = engine.stats(), engine.stats(grant=ReadOnly(("b",)))
    assert (everything.documents, everything.namespaces) == (3, 2)
    assert (only_b.documents, only_b.namespaces) == (2, 1)
    assert everything.bytes_on_disk > 0 and only_b.bytes_on_disk == 0  # store-wide sizes: whole-store callers
    assert engine.stats("a").documents == 1 and engine.stats("a").tokens > 0
    with pytest.raises(NotFound):
        engine.stats("missing")


def test_reads_go_through_the_engine(engine):
    assert engine.get("b", "y").text == "Another note, about coffee."
    docs, token = engine.list("b", page_size=1)
    assert [d.id for d in docs] == ["x"] and token


@pytest.mark.parametrize(("options", "error"), [
    (dict(top_k=0), InvalidArgument), (dict(top_k=65), InvalidArgument), (dict(read_mode="both"), InvalidArgument),
    (dict(max_new_tokens=-1), InvalidArgument), (dict(max_new_tokens=4097), InvalidArgument),
    (dict(temperature=math.nan), InvalidArgument), (dict(temperature=-1.0), InvalidArgument),
    (dict(top_p=0.0), InvalidArgument), (dict(top_p=1.5), InvalidArgument),
    (dict(interleave_rounds=-1), InvalidArgument), (dict(interleave_rounds=5), InvalidArgument),
])
def test_query_options_have_one_set_of_rules(engine, options, error):
    with pytest.raises(error):
        QueryOptions(**options)
    with pytest.raises(error):
        engine.query("a", "What about tea?", **options)


def test_the_defaults_are_valid_for_the_model():
    assert QueryOptions() == QueryOptions(top_k=None, read_mode=None, max_new_tokens=256, temperature=0.0,
                                          top_p=1.0, seed=0, interleave_rounds=1)


def test_concurrent_in_process_writes_are_encoded_together(engine):
    engine.create_namespace("w")
    calls, encode = [], engine.model.encode_documents
    gate = threading.Event()

    def slow_encode(texts, **kwargs):
        calls.append(len(texts))
        gate.wait(10)
        return encode(texts, **kwargs)

    engine.model.encode_documents = slow_encode
    try:
        writers = [threading.Thread(target=engine.write, args=("w", [WriteItem(f"Note {i}.", id=f"n{i}")]))
                   for i in range(6)]
        writers[0].start()
        while not calls:
            threading.Event().wait(0.001)
        for w in writers[1:]:
            w.start()
        while len(engine.write_batcher.pending) < 5:
            threading.Event().wait(0.001)
        gate.set()
        for w in writers:
            w.join(30)
    finally:
        del engine.model.encode_documents
    assert calls == [1, 5]
    assert engine.namespace("w").documents == 6


def test_a_question_over_rounds_streams_each_round_and_cites_every_read(engine):
    """Text reading over two rounds: one Retrieval per round, the second with documents the first did not read,
    and the answer cites all of them, each with its round."""
    engine.create_namespace("r")
    engine.write("r", [WriteItem(f"Note {i}: the {w} is kept in drawer {i}.", id=f"n{i}")
                       for i, w in enumerate(["key", "map", "pen", "torch", "coin", "ring"])])
    events = list(engine.query("r", "Where is the key?", read_mode="text", top_k=2, max_new_tokens=2,
                               interleave_rounds=2))
    retrievals, answer = [e for e in events if isinstance(e, Retrieval)], events[-1]
    assert [r.round for r in retrievals] == [1, 2]
    first, second = ({c.id for c in r.citations} for r in retrievals)
    assert len(first) == len(second) == 2 and not first & second
    assert isinstance(answer, Answer) and [(c.id, c.round) for c in answer.citations] == [
        (c.id, c.round) for r in retrievals for c in r.citations]
    single = list(engine.query("r", "Where is the key?", read_mode="text", top_k=2, max_new_tokens=2))
    assert [(c.id, c.round) for c in single[-1].citations] == [(c.id, 1) for c in retrievals[0].citations]
