"""The engine over a real store and a tiny model: answers equal the in-memory model path, edits show up
in the next query, a query keeps its snapshot during writes, bad input gets typed errors."""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from msa.memstore.engine import Answer, Engine, WriteItem
from msa.memstore.engine import core as engine_core
from msa.memstore.errors import AlreadyExists, InvalidArgument, ModelMismatch, NotFound, StoreError
from msa.model.api import MSAModel
from msa.model.memory import Memory
from tests.conftest import rel_err
from tests.engine_helpers import tiny_engine

FACTS = ["Rex is a dog who lives in Paris. " * 3, "Anna works at a bakery in Lyon.", "The river Sena flows north.",
         "Marta plays the cello every evening in her flat above the old cinema. " * 4]


@pytest.fixture(params=["resident", "streamed"])
def engine(checkpoint, tmp_path, device, request):
    """An engine whose routing keys live on the device, or stream from host memory (no device budget)."""
    model = MSAModel.from_pretrained(checkpoint("qwen3", pooling_kernel_size=4), device=device)
    eng = Engine.open(tmp_path / "store", model, create=True,
                      index_budget_bytes=0 if request.param == "streamed" else 1 << 30)
    eng.store.create_namespace("n")
    yield eng
    eng.close()


def answer(eng: Engine, question: str, **kw) -> Answer:
    *_, final = eng.query("n", question, max_new_tokens=6, **kw)
    return final


@pytest.mark.parametrize("read_mode", ["kv", "text"])
def test_query_equals_the_in_memory_model_path(engine, read_mode):
    engine.write("n", [WriteItem(t, id=f"f{i}") for i, t in enumerate(FACTS)])
    engine.delete("n", ["f1"])  # a gap in the ordinals
    engine.write("n", [WriteItem("Anna moved to Bordeaux last spring.", id="f1")])
    got = answer(engine, "Where does Rex live?", top_k=2, read_mode=read_mode)
    assert engine.index.streamed("n") == (engine.index.budget == 0)
    texts = {0: FACTS[0], 2: FACTS[2], 3: FACTS[3], 4: "Anna moved to Bordeaux last spring."}
    model = engine.model
    memory = Memory(model.encode_documents(list(texts.values()), numbers=list(texts)))
    want = model.generate("Where does Rex live?", memory, top_k=2, read_mode=read_mode, max_new_tokens=6)
    assert got.text == want.text
    cited = dict(want.routing.ranking()) if read_mode == "text" else want.routing.read_scores()
    assert [c.ordinal for c in got.citations] == sorted(want.documents, key=lambda n: (-cited[n], n))
    assert [c.score for c in got.citations] == [cited[c.ordinal] for c in got.citations]
    by_ordinal = {0: "f0", 2: "f2", 3: "f3", 4: "f1"}
    assert all(c.id == by_ordinal[c.ordinal] for c in got.citations)


def test_edits_show_up_in_the_next_query_and_snapshots_hold(engine):
    engine.write("n", [WriteItem(t, id=f"f{i}") for i, t in enumerate(FACTS)])
    before = engine.memory("n")
    assert before.views.numbers() == [0, 1, 2, 3] and len(before) == 4
    engine.delete("n", ["f0"])
    engine.write("n", [WriteItem("A new memory about Oslo.", id="new")])
    engine.update("n", "f2", text="The river Sena flows south.")
    assert before.views.numbers() == [0, 1, 2, 3] and len(before) == 4  # the earlier snapshot holds
    after = engine.memory("n")
    assert after.views.numbers() == [1, 2, 3, 4] and len(after) == 4
    retrieved = engine.retrieve("n", "Which river flows south?", top_k=4)
    assert {c.id for c in retrieved} == {"f1", "f2", "f3", "new"}
    assert next(c for c in retrieved if c.id == "f2").version == 2
    layer = engine.store.layers[0]
    fresh = engine.model.encode_documents(["The river Sena flows south."], numbers=[2])[0].routing_keys[layer]
    start, end = engine.index.spaces["n"].span[2]
    torch.testing.assert_close(after.views[layer].keys[start:end].cpu(), fresh.cpu())  # the re-encoded keys

@pytest.mark.parametrize("read_mode", ["kv", "text"])
def test_retrieve_ranks_as_query_reads(engine, read_mode):
    """Retrieve returns the documents a Query with the same top_k reads in that mode, in its citation order
    with its scores (KV: each layer's own top k, ranked by the mean over the layers that chose them)."""
    engine.write("n", [WriteItem(t, id=f"f{i}") for i, t in enumerate(FACTS)])
    engine.write("n", [WriteItem(f"Filler note {i} about the weather in town.") for i in range(6)])
    for question in ("Where does Rex live?", "Who plays the cello?", "Which river flows north?"):
        final = answer(engine, question, top_k=2, read_mode=read_mode)
        got = engine.retrieve("n", question, top_k=2, read_mode=read_mode)
        assert [(c.ordinal, c.score) for c in got] == [(c.ordinal, c.score) for c in final.citations][:2]


def test_a_document_deleted_after_the_snapshot_is_skipped(engine):
    engine.write("n", [WriteItem(t, id=f"f{i}") for i, t in enumerate(FACTS)])
    memory = engine.memory("n")
    engine.model.generate("Where does Rex live?", memory, top_k=4, max_new_tokens=1)  # caches every K/V read
    engine.delete("n", ["f0", "f3"])
    text = engine.model.generate("Where does Rex live?", memory, top_k=4, read_mode="text", max_new_tokens=4)
    assert text.documents and not {0, 3} & set(text.documents)  # reads only what is still stored
    reads = []  # kv: (layer, documents asked for, their chunks read)
    chunks = memory.chunks
    memory.chunks = lambda layer, numbers: reads.append((layer, list(numbers), chunks(layer, list(numbers)))) \
        or reads[-1][2]
    engine.model.generate("Where does Rex live?", memory, top_k=4, read_mode="kv", max_new_tokens=4)
    assert reads and all({0, 3} <= set(asked) for _, asked, _ in reads)  # the snapshot still routes to them
    for layer, _, rows in reads:
        stored = engine.store.kv("n", [1, 2], layer)
        want = torch.cat([stored[1][0], stored[2][0]])  # the live documents' keys only
        torch.testing.assert_close(rows.gather()[0].cpu(), want.to(rows.k.dtype), rtol=0, atol=0)


def test_reopen_gives_the_same_answers(checkpoint, tmp_path, device):
    model = MSAModel.from_pretrained(checkpoint("qwen3", pooling_kernel_size=4), device=device)
    with_store = Engine.open(tmp_path / "s", model, create=True)
    with_store.store.create_namespace("n")
    with_store.write("n", [WriteItem(t) for t in FACTS])
    first = answer(with_store, "Who plays the cello?", top_k=2)
    with_store.close()
    again = Engine.open(tmp_path / "s", model)
    second = answer(again, "Who plays the cello?", top_k=2)
    assert (first.text, first.citations) == (second.text, second.citations)
    again.close()
    other = MSAModel.from_pretrained(checkpoint("llama", pooling_kernel_size=4), device=device)
    with pytest.raises(ModelMismatch):
        Engine.open(tmp_path / "s", other)


def test_bad_input_gets_typed_errors(engine):
    with pytest.raises(InvalidArgument, match="empty"):
        engine.write("n", [WriteItem("   ")])
    with pytest.raises(InvalidArgument, match="tokens"):
        engine.write("n", [WriteItem("word " * 5000)])
    with pytest.raises(InvalidArgument):
        engine.write("n", [WriteItem("ok", id="bad\nid")])
    with pytest.raises(InvalidArgument, match="top_k"):
        engine.retrieve("n", "q", top_k=0)
    with pytest.raises(InvalidArgument):
        list(engine.query("n", "  "))
    with pytest.raises(NotFound):
        engine.retrieve("missing", "q")
    assert engine.store.namespace("n").documents == 0
    assert answer(engine, "Anything?").citations == []  # an empty namespace still answers


def test_write_many_encodes_together_and_fails_alone(engine):
    engine.write("n", [WriteItem(FACTS[0], id="taken")])
    outcomes = engine.write_many([
        ("n", [WriteItem(FACTS[1], id="a"), WriteItem(FACTS[2], id="b")], "create"),
        ("missing", [WriteItem(FACTS[3], id="c")], "create"),
        ("n", [WriteItem(FACTS[3], id="taken")], "create"),  # exists: this request alone fails
        ("n", [WriteItem("   ")], "create"),
        ("n", [WriteItem("Anna moved to Bordeaux.", id="a")], "upsert"),  # same id as the first: next round
        ("n", [WriteItem(FACTS[3], id="d", metadata={"k": "v"})], "create"),
    ])
    assert [type(o).__name__ for o in outcomes] == ["list", "NotFound", "AlreadyExists", "InvalidArgument", "list",
                                                    "list"]
    assert [(r.id, r.ordinal, r.version) for r in outcomes[0]] == [("a", 1, 1), ("b", 2, 1)]
    assert [(r.id, r.ordinal, r.version) for r in outcomes[4]] == [("a", 1, 2)]
    assert outcomes[5][0].ordinal == 3  # the failed request's reserved ordinal is skipped, never reused
    texts = {0: FACTS[0], 1: "Anna moved to Bordeaux.", 2: FACTS[2], 3: FACTS[3]}
    memory = Memory(engine.model.encode_documents(list(texts.values()), numbers=list(texts)))
    want = engine.model.route("Where does Anna live?", memory, read_mode="text").ranking()
    got = engine.retrieve("n", "Where does Anna live?", top_k=4)
    assert [c.ordinal for c in got] == [n for n, _ in want]
    assert [c.score for c in got] == pytest.approx([s for _, s in want], abs=2e-3)  # bf16 scores (compat)


@pytest.mark.parametrize("read_mode", ["kv", "text"])
def test_concurrent_questions_get_what_each_gets_alone(engine, read_mode):
    """Questions asked at once share routing calls (`CallBatcher`); each still gets its own answer."""
    engine.write("n", [WriteItem(t, id=f"f{i}") for i, t in enumerate(FACTS)])
    questions = ["Where does Rex live?", "Who plays the cello?", "Which way does the Sena flow?", "Anna?"] * 3
    alone = {q: answer(engine, q, top_k=2, read_mode=read_mode) for q in set(questions)}
    with ThreadPoolExecutor(len(questions)) as pool:
        together = list(pool.map(lambda q: answer(engine, q, top_k=2, read_mode=read_mode), questions))
    for q, got in zip(questions, together, strict=True):
        want = alone[q]
        assert got.text == want.text
        assert [c.ordinal for c in got.citations] == [c.ordinal for c in want.citations]
        assert [c.score for c in got.citations] == pytest.approx([c.score for c in want.citations], abs=1e-5)
    per_question = 1 if read_mode == "text" else len(engine.store.layers)  # kv routes at every router layer
    assert engine.route_batcher.questions == (len(questions) + len(alone)) * per_question


def test_concurrent_writes_and_deletes_of_the_same_documents_stay_consistent(engine):
    """Writers upserting and creating overlapping ids and deleters racing them, with batches prepared while
    others commit (`InFlight`): every call ends in a result or a typed error (never a reused ordinal), each
    id keeps one ordinal while it lives, and the index holds exactly the store's documents, each encoded with
    its own ordinal (routing equals a fresh in-memory encoding of what the store holds)."""

    ids = [f"d{i}" for i in range(6)]
    errors: list[BaseException] = []

    def writer(seed: int) -> None:
        rng = random.Random(seed)
        for step in range(25):
            chosen = rng.sample(ids, rng.randint(1, 3))
            mode = rng.choice(["upsert", "upsert", "create"])
            try:
                if rng.random() < 0.25:
                    engine.delete("n", chosen[:1])
                else:
                    engine.write("n", [WriteItem(f"Note {d} from writer {seed}, step {step}.", id=d)
                                       for d in chosen], mode=mode)
            except (AlreadyExists, NotFound):
                pass  # a create of a live id, a delete of a gone one
            except StoreError as e:
                errors.append(e)

    threads = [threading.Thread(target=writer, args=(s,), daemon=True) for s in range(5)]  # a hang fails
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    assert not errors and not any(t.is_alive() for t in threads)
    assert not engine.in_flight.ordinals and not engine.in_flight.writes
    docs, _ = engine.store.list("n", page_size=100)
    live = {d.id: engine.store.get("n", d.id) for d in docs}
    assert len({d.ordinal for d in live.values()}) == len(live)
    ordinals = [d.ordinal for d in live.values()]
    fresh = engine.model.encode_documents([d.text for d in live.values()], numbers=ordinals)
    layer = engine.model.config.msa.router_layers[-1]
    stored = engine.store.kv("n", ordinals, layer)
    for o, want in zip(ordinals, fresh, strict=True):  # each stored with the number its text was encoded with
        assert rel_err(stored[o][0], want.keys[layer]) <= 1e-4, o
    got = engine.retrieve("n", "Which note came from writer 3?", top_k=max(1, len(live)), read_mode="text")
    want = dict(engine.model.route("Which note came from writer 3?", Memory(fresh), read_mode="text").ranking())
    assert {c.id for c in got} == set(live)
    assert all(c.score == pytest.approx(want[c.ordinal], abs=2e-3) for c in got)


def test_a_write_that_relied_on_a_failed_one_is_planned_and_encoded_again(engine):
    """In one batch: A fails (an id it creates exists) after reserving ordinal 1 for "d"; C takes 2; B, which
    upserts "d" and so shared A's ordinal 1, would store an ordinal the store has passed: it is planned again
    (ordinal 3) and encoded again with that number."""
    engine.write("n", [WriteItem(FACTS[0], id="taken")])
    a, c, b = engine.write_many([
        ("n", [WriteItem(FACTS[1], id="taken"), WriteItem(FACTS[2], id="d")], "create"),
        ("n", [WriteItem(FACTS[3], id="e")], "create"),
        ("n", [WriteItem("Anna moved to Bordeaux.", id="d")], "upsert"),
    ])
    assert isinstance(a, AlreadyExists)
    assert [(r.id, r.ordinal) for r in c] == [("e", 2)] and [(r.id, r.ordinal, r.version) for r in b] == [("d", 3, 1)]
    layer = engine.model.config.msa.router_layers[0]
    (want,) = engine.model.encode_documents(["Anna moved to Bordeaux."], numbers=[3])
    assert rel_err(engine.store.kv("n", [3], layer)[3][0], want.keys[layer]) <= 1e-4
    assert not engine.in_flight.ordinals and not engine.in_flight.writes


def test_citation_reads_after_the_retrieval_are_a_fetch_not_taken_off_the_prefill(engine):
    """In kv reading the citations' records are first read after the prefill (at the retrieval): a fetch inside
    the decoding window, counted once as fetch and taken off the decoding, not off the prefill (which then came
    out negative); the stages still add up to the whole answer."""
    engine.write("n", [WriteItem(t, id=f"f{i}") for i, t in enumerate(FACTS)])
    by_ordinals = engine.store.by_ordinals

    def slow(ns, ordinals):
        time.sleep(0.3)
        return by_ordinals(ns, ordinals)

    engine.store.by_ordinals = slow
    t = answer(engine, "Where does Rex live?", top_k=2, read_mode="kv").timings_ms
    assert t["fetch"] >= 300 and 0 <= t["prefill"] < 300 and 0 <= t["decode"] < 300
    assert t["route"] + t["fetch"] + t["prefill"] + t["decode"] == pytest.approx(t["total"], abs=1.0)


def test_an_engine_given_no_budget_sizes_its_index_for_the_device(checkpoint, tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(engine_core, "default_budget", lambda device: seen.append(device) or 12_345)
    eng = tiny_engine(checkpoint, tmp_path / "store")
    try:
        assert eng.index.budget == 12_345 and seen == [eng.model.device]
    finally:
        eng.close()
    eng = tiny_engine(checkpoint, tmp_path / "other", index_budget_bytes=1 << 20)
    try:
        assert eng.index.budget == 1 << 20 and len(seen) == 1  # a budget given is kept
    finally:
        eng.close()
