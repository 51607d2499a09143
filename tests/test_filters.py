"""Filters (metadata any-of, created / updated ranges): bounded checks before any work; the attribute index
against a brute-force oracle (`DocumentFilter.matches` over every stored record) through random writes,
updates and deletes; and, through the engine over a real store and a tiny model, no document outside a
filter is ever scored, read or cited, while the documents inside rank exactly as without the filter."""

from __future__ import annotations

import random

import pytest
import torch

from msa.memstore.engine import WriteItem
from msa.memstore.errors import InvalidArgument, NotFound
from msa.memstore.index import routing_index
from msa.memstore.index.attributes import AttributeIndex, AttributeTable
from msa.memstore.index.passing import Passing
from msa.memstore.storage.filters import MAX_CONDITIONS, MAX_VALUES, DocumentFilter, TimeRange
from tests.engine_helpers import spy_reads, tiny_engine
from tests.store_helpers import doc, open_store

KEYS = ("user", "topic", "kind")
VALUES = ("a", "b", "c", "d")


def random_metadata(rng: random.Random) -> dict[str, str]:
    return {k: rng.choice(VALUES) for k in KEYS if rng.random() < 0.7}


def random_filter(rng: random.Random, times: list[float]) -> DocumentFilter:
    """Metadata conditions on 0-2 keys (1-3 accepted values, sometimes a value nobody has) and time ranges cut
    at the documents' own timestamps, so each condition splits the namespace."""
    conditions = [(k, rng.sample([*VALUES, "zz"], rng.randint(1, 3))) for k in rng.sample(KEYS, rng.randint(0, 2))]

    def span() -> TimeRange:
        if not times or rng.random() < 0.5:
            return TimeRange()
        a, b = sorted(rng.sample(times, 2)) if len(times) > 1 else (times[0], None)
        return TimeRange(a if rng.random() < 0.7 else None, b if b != a and rng.random() < 0.7 else None)

    return DocumentFilter.of(conditions, span(), span())


@pytest.mark.parametrize(("args", "message"), [
    ({"metadata": [(f"k{i}", "v") for i in range(MAX_CONDITIONS + 1)]}, "metadata conditions"),
    ({"metadata": [(f"k{i}", [str(j) for j in range(40)]) for i in range(MAX_VALUES // 40 + 1)]}, "values in all"),
    ({"metadata": {"user": []}}, "accepts no value"),
    ({"metadata": {"": "a"}}, "must not be empty"),
    ({"metadata": {"user": 3}}, "must be strings"),
    ({"metadata": {"user": "x" * 2000}}, "longer than"),
    ({"created": TimeRange(5.0, 5.0)}, "must be earlier"),
    ({"updated": TimeRange(float("nan"))}, "finite"),
])
def test_bad_filters_are_refused_before_any_work(args, message):
    with pytest.raises(InvalidArgument, match=message):
        DocumentFilter.of(**args)


def test_a_filter_is_empty_only_without_conditions():
    assert DocumentFilter.of().empty and DocumentFilter.of({}, TimeRange(), TimeRange()).empty
    assert not DocumentFilter.of({"user": "a"}).empty and not DocumentFilter.of(created=TimeRange(1.0)).empty


@pytest.mark.parametrize("seed", range(4))
def test_attribute_index_equals_the_brute_force_oracle(tmp_path, seed, device):
    rng = random.Random(seed)
    store = open_store(tmp_path / "s")
    store.create_namespace("n")
    store.write("n", [doc(f"d{i}", seed=i, **random_metadata(rng)) for i in range(30)])
    index = AttributeIndex(store, device=device)  # on a GPU: its mirror patched row by row
    for step in range(60):
        if step % 3 == 0:  # a change, patched into the index as the engine does after its commit
            op, target = rng.choice(["write", "update", "delete"]), f"d{rng.randrange(40)}"
            try:
                if op == "write":
                    (r,) = store.write("n", [doc(target, seed=step, **random_metadata(rng))], mode="upsert")
                    index.patch("n", [r.ordinal], [])
                elif op == "update":
                    r = store.update("n", target, metadata=random_metadata(rng))
                    index.patch("n", [r.ordinal], [])
                else:
                    index.patch("n", [], [d.ordinal for d in store.delete("n", [target])])
            except NotFound:
                pass
        docs = store.documents("n")
        flt = random_filter(rng, [t for d in docs for t in (d.created_at, d.updated_at)])
        want = sorted(d.ordinal for d in docs if flt.matches(d))
        assert index.matching("n", flt).ordinals().tolist() == want, flt
    store.close()


def test_attribute_index_rebuilt_after_many_deletes_still_equals_the_oracle(tmp_path, device):
    rng = random.Random(9)
    store = open_store(tmp_path / "s")
    store.create_namespace("n")
    store.write("n", [doc(f"d{i}", seed=i, **random_metadata(rng)) for i in range(300)])
    index = AttributeIndex(store, device=device)
    index.matching("n", DocumentFilter.of({"user": "a"}))  # loaded: patched from here on
    for chunk in range(10):
        gone = store.delete("n", [f"d{i}" for i in range(chunk * 20, chunk * 20 + 20)])
        index.patch("n", [], [d.ordinal for d in gone])
        (r,) = store.write("n", [doc(f"new{chunk}", seed=chunk, user="zz")])
        index.patch("n", [r.ordinal], [])
    assert index.spaces["n"].size < 300  # the table was rebuilt from its live rows
    docs = store.documents("n")
    for _ in range(20):
        flt = random_filter(rng, [d.created_at for d in docs])
        assert index.matching("n", flt).ordinals().tolist() == sorted(d.ordinal for d in docs if flt.matches(d))
    assert index.matching("n", DocumentFilter.of({"user": "zz"})).ordinals().numel() == 10
    store.close()


def test_values_that_keep_changing_do_not_pile_up_in_the_attribute_table():
    table = AttributeTable()
    for ordinal in range(10):
        table.put(ordinal, {"user": "a", "seen": "0"}, 1.0, 1.0)
    for step in range(5000):  # one memory's counter-like value, rewritten again and again
        table.put(3, {"user": "a", "seen": str(step)}, 1.0, 2.0 + step)
    assert sum(len(codes) for codes in table.codes.values()) <= 2 * 10 + 1024
    assert table.matching(DocumentFilter.of({"seen": "4999"})).ordinals().tolist() == [3]
    assert table.matching(DocumentFilter.of({"seen": ["0", "17"]})).ordinals().tolist() == [0, 1, 2, 4, 5, 6, 7, 8, 9]
    assert table.matching(DocumentFilter.of({"user": "a"}, updated=TimeRange(5000.0))).ordinals().tolist() == [3]


def test_a_host_table_keeps_no_record_of_changed_rows():
    """Changed rows are remembered only to patch a device mirror: on the host they would pile up."""
    table = AttributeTable()
    for ordinal in range(500):
        table.put(ordinal, {"user": "a"}, 1.0, 1.0)
    table.remove(3)
    assert not table.changed and table.matching(DocumentFilter.of({"user": "a"})).ordinals().numel() == 499


def test_rows_committed_out_of_ordinal_order_still_match_in_ordinal_order(device):
    """Concurrent writes can commit a later ordinal first: the table's rows are then not in ordinal order."""
    table = AttributeTable([(5, {"user": "a"}, 1.0, 1.0, 0.0), (2, {"user": "a"}, 2.0, 2.0, 0.0)], device)
    table.put(9, {"user": "b"}, 3.0, 3.0)
    table.put(7, {"user": "a"}, 4.0, 4.0)
    assert table.matching(DocumentFilter.of({"user": "a"})).ordinals().tolist() == [2, 5, 7]
    assert table.matching(DocumentFilter.of(created=TimeRange(2.0))).ordinals().tolist() == [2, 7, 9]


def test_an_ordinal_deleted_and_put_again_passes_as_its_new_row_says(device):
    """The dead row keeps no claim on its ordinal: both rows write into one mask, and only the live one may
    (a scatter of duplicate indices keeps either row's value on a GPU; the CPU happens to keep the last)."""
    table = AttributeTable([(o, {"user": "a"}, 1.0, 1.0, 0.0) for o in range(6)], device)
    table.remove(4)
    table.put(4, {"user": "b"}, 2.0, 2.0)
    assert int((table.ordinal[: table.size] == 4).sum()) == 1  # one row claims the ordinal: the live one
    for _ in range(3):
        assert table.matching(DocumentFilter.of({"user": "b"})).ordinals().tolist() == [4]
        assert table.matching(DocumentFilter.of({"user": "a"})).ordinals().tolist() == [0, 1, 2, 3, 5]


def test_a_passing_mask_answers_as_the_list_it_was_made_from(device):
    rng = random.Random(3)
    for bound in (0, 1, 7, 300):
        picked = sorted({0, *rng.sample(range(bound), rng.randint(0, bound))}) if bound else []  # 0: where -1 leaks
        allowed = Passing.of(torch.tensor([*picked, bound, bound + 5, -1, -2], dtype=torch.int64), bound, device)
        assert allowed.bound == bound and allowed.ordinals().tolist() == picked  # past the bound, negative: dropped
        probe = torch.tensor([0, bound - 1, bound, bound + 9, -1, -bound - 3, *picked[:3]], dtype=torch.int64)
        want = [0 <= o < bound and o in picked for o in probe.tolist()]
        assert allowed.at(probe).tolist() == want
        assert allowed.at(probe.to(device)).device.type == device
    with pytest.raises(ValueError, match="bool"):
        Passing(torch.zeros(3, dtype=torch.int64))


@pytest.fixture
def engine(checkpoint, tmp_path):
    eng = tiny_engine(checkpoint, tmp_path / "store")
    yield eng
    eng.close()


@pytest.mark.parametrize("seed", range(3))
def test_no_document_outside_a_filter_is_scored_read_or_cited(engine, seed):
    rng = random.Random(seed)
    words = ["river", "tea", "dog", "train", "garden", "cello", "Paris", "Lyon", "bread", "snow"]
    engine.write("n", [WriteItem(" ".join(rng.choices(words, k=rng.randint(3, 30))), id=f"m{i}",
                                 metadata=random_metadata(rng)) for i in range(24)])
    engine.delete("n", ["m3"])
    engine.update("n", "m5", metadata={"user": "a"})
    docs = {d.ordinal: d for d in engine.store.documents("n")}
    for trial in range(6):
        flt = random_filter(rng, [t for d in docs.values() for t in (d.created_at, d.updated_at)])
        passing = {o for o, d in docs.items() if flt.matches(d)}
        question = " ".join(rng.choices(words, k=4)) + "?"
        # text reading ranks each document by its own scores: the filtered ranking is the unfiltered one
        # restricted to the passing documents
        everything = engine.model.route(question, engine.memory("n"), top_k=5, read_mode="text").ranking()
        seen = spy_reads(engine)
        got = engine.retrieve("n", question, top_k=5, read_mode="text", flt=flt, with_text=True)
        assert [(c.ordinal, c.score) for c in got] == [(n, s) for n, s in everything if n in passing][:5]
        assert all(c.text == docs[c.ordinal].text for c in got)
        for read_mode in ("kv", "text"):
            cited = engine.retrieve("n", question, top_k=3, read_mode=read_mode, flt=flt)
            *_, final = engine.query("n", question, max_new_tokens=3, top_k=2, read_mode=read_mode, flt=flt)
            assert {c.ordinal for c in cited} | {c.ordinal for c in final.citations} <= passing
            assert bool(final.citations) == bool(passing) and final.memory_documents == len(passing)
        assert seen <= passing, f"trial {trial}: read {sorted(seen - passing)} outside the filter"
        engine.cache.__dict__.pop("get", None)
        engine.store.__dict__.pop("by_ordinals", None)


def test_a_filter_sees_changes_committed_after_its_namespace_loaded(engine):
    engine.write("n", [WriteItem("The cat sleeps on the sofa.", id="a", metadata={"user": "ada"})])
    ada = DocumentFilter.of({"user": "ada"})
    assert [c.id for c in engine.retrieve("n", "Where does the cat sleep?", flt=ada)] == ["a"]
    engine.write("n", [WriteItem("The dog sleeps in the hall.", id="b", metadata={"user": "ada"})])
    engine.update("n", "a", metadata={"user": "bob"})
    assert [c.id for c in engine.retrieve("n", "Where does the cat sleep?", flt=ada)] == ["b"]
    engine.delete("n", ["b"])
    assert engine.retrieve("n", "Where does the cat sleep?", flt=ada) == []
    recent = DocumentFilter.of(updated=TimeRange(engine.get("n", "a").updated_at))
    assert [c.id for c in engine.retrieve("n", "cat?", flt=recent)] == ["a"]
    assert engine.attributes.matching("n", ada).ordinals().tolist() == []


def test_a_failed_index_patch_still_brings_the_attribute_table_and_the_index_up_to_date(engine, monkeypatch):
    """The commit stands when the routing index fails to follow it: the index reloads the namespace from the
    store, and the attribute table is patched all the same (filters see the new document)."""
    engine.write("n", [WriteItem("The cat sleeps on the sofa.", id="a", metadata={"user": "ada"})])
    ada = DocumentFilter.of({"user": "ada"})
    assert [c.id for c in engine.retrieve("n", "Where does the cat sleep?", flt=ada)] == ["a"]  # both loaded
    apply = routing_index.Slab.apply
    monkeypatch.setattr(routing_index.Slab, "apply", lambda *a: (_ for _ in ()).throw(RuntimeError("device lost")))
    with pytest.raises(RuntimeError, match="device lost"):
        engine.write("n", [WriteItem("The dog sleeps in the hall.", id="b", metadata={"user": "ada"})])
    monkeypatch.setattr(routing_index.Slab, "apply", apply)
    assert engine.get("n", "b").text == "The dog sleeps in the hall."  # committed
    assert len(engine.attributes.matching("n", ada).ordinals()) == 2
    assert {c.id for c in engine.retrieve("n", "Where does the dog sleep?", flt=ada)} == {"a", "b"}
