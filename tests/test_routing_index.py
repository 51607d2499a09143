"""Routing index: equal to a brute-force oracle after random edits; snapshots; compaction; eviction."""

from __future__ import annotations

import itertools
import random
from unittest import mock

import pytest
import torch
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from msa.kernels.route import RouteSpec, route_scores, top_k
from msa.memstore.errors import NotFound
from msa.memstore.index import routing_index
from msa.memstore.index.passing import Passing
from msa.memstore.index.routing_index import RoutingIndex
from tests.store_helpers import LAYERS, doc, encoding, open_store

HEADS = 4  # query heads: 2 per routing-key head of the test encodings


def oracle(store, ns: str, layer: int, q: torch.Tensor, k: int) -> tuple[list[int], list[float]]:
    """Score every live document straight from the store, in ordinal order."""
    pages = store.namespace_routing_keys(ns)[layer]
    if not pages:
        return [], []
    ordinals = [o for o, _ in pages]
    keys = torch.cat([t for _, t in pages]).float()
    owner = torch.repeat_interleave(torch.arange(len(pages)), torch.tensor([t.shape[0] for _, t in pages]))
    scores = route_scores(q, keys, owner, len(pages), RouteSpec())
    idx, vals = top_k(scores, k)
    return [ordinals[i] for i in idx.tolist()], vals.tolist()


def best(snapshot, layer: int, q: torch.Tensor, k: int) -> tuple[list[int], list[float]]:
    """The best k live documents of one layer as the engine routes a snapshot: (ordinals, scores)."""
    ((ordinals, scores),) = snapshot.select_many([{layer: q}], RouteSpec(), k)
    idx, vals = top_k(scores[0], k)
    return ordinals[idx.cpu()].tolist(), vals.float().tolist()


def query(seed: int) -> torch.Tensor:
    return torch.randn(3, HEADS, 8, generator=torch.Generator().manual_seed(seed))


class IndexMachine(RuleBasedStateMachine):
    device = "cpu"
    budget = 8 << 30  # 0: every namespace streams from host memory

    def __init__(self) -> None:
        super().__init__()
        import tempfile

        self.dir = tempfile.TemporaryDirectory()
        self.store = open_store(self.dir.name)
        self.store.create_namespace("n")
        self.index = RoutingIndex(self.store, device=self.device, budget_bytes=self.budget, compact_ratio=0.3,
                                  stream_rows=7)
        self.loaded = False

    ids = st.sampled_from([f"d{i}" for i in range(10)])

    def _patch(self, written, removed) -> None:
        added = {r.ordinal: dict(d.encoding.routing_keys) for r, d in written if r.changed}
        self.index.patch("n", added, [d.ordinal for d in removed])

    @rule(doc_id=ids, size=st.integers(1, 40), seed=st.integers(0, 1000))
    def upsert(self, doc_id, size, seed):
        d = doc(doc_id, "w" * size, seed=seed)
        self._patch(zip(self.store.write("n", [d], mode="upsert"), [d], strict=True), [])

    @rule(doc_id=ids, size=st.integers(1, 40), seed=st.integers(0, 1000))
    def update_text(self, doc_id, size, seed):
        text = "u" * size + str(seed)
        try:
            res = self.store.update("n", doc_id, text=text, encoding=encoding(text, seed))
        except NotFound:  # absent ids are fine here
            return
        if res.changed:
            self.index.patch("n", {res.ordinal: dict(encoding(text, seed).routing_keys)}, [])

    @rule(doc_id=ids)
    def delete(self, doc_id):
        try:
            self._patch([], self.store.delete("n", [doc_id]))
        except NotFound:  # absent ids are fine here
            return

    @rule()
    def load(self):
        self.index.snapshot("n")  # from here on it is patched, not reloaded

    @invariant()
    def equals_oracle(self):
        for layer in LAYERS:
            for seed, k in ((1, 1), (2, 3), (3, 16)):
                q = query(seed)
                got = best(self.index.snapshot("n"), layer, q, k)
                want = oracle(self.store, "n", layer, q, k)
                assert got[0] == want[0]
                assert got[1] == pytest.approx(want[1], abs=1e-5)
                # with no device budget, a namespace with keys is scored from host memory
                assert self.index.streamed("n") == (self.budget == 0 and self.index.key_bytes("n") > 0)

    @invariant()
    def questions_together_score_as_alone(self):
        """Concurrent questions share a pass over the keys (`scores_many`): each scores as it would alone."""
        qs = [query(4)[:1], query(5), torch.randn(7, HEADS, 8, generator=torch.Generator().manual_seed(6))]
        for view in self.index.snapshot("n").values():
            for q, together in zip(qs, view.scores_many(qs), strict=True):
                torch.testing.assert_close(together, view.scores(q), rtol=0, atol=1e-5)

    @invariant()
    def a_filter_scores_its_documents_and_no_other(self):
        """Routing only a filter's documents (every row with the others' skipped, or only their rows) scores
        each exactly as without the filter; an allowed ordinal that is not live is ignored."""
        snapshot = self.index.snapshot("n")
        queries = {layer: query(7 + layer) for layer in LAYERS}
        ((live, full),) = snapshot.select_many([queries], RouteSpec(), 4)
        live = live.tolist()
        for share, subset in itertools.product((0.2, 0.9, 1.0), (0.0, 1.0)):  # only their rows, or every row
            picked = random.Random(len(live)).sample([*live, 10**9], 1 + int(share * len(live)))
            with mock.patch.dict(routing_index.SUBSET_SHARE, {self.device: subset}):
                allowed = Passing.of(torch.tensor(picked), max(live, default=0) + 1)  # 10**9: past the bound
                ((ordinals, scores),) = snapshot.select_many([queries], RouteSpec(), 4, allowed)
            keep = [i for i, o in enumerate(live) if o in picked]
            assert ordinals.tolist() == [live[i] for i in keep]
            assert snapshot.count(allowed) == len(keep)
            torch.testing.assert_close(scores, full[:, keep], rtol=0, atol=1e-5)

    def teardown(self):
        self.store.close()
        self.dir.cleanup()


class StreamedIndexMachine(IndexMachine):
    budget = 0


class CudaIndexMachine(IndexMachine):
    device = "cuda"


class CudaStreamedIndexMachine(IndexMachine):
    device, budget = "cuda", 0


SETTINGS = settings(max_examples=25, stateful_step_count=25, deadline=None)
for machine in (IndexMachine, StreamedIndexMachine, CudaIndexMachine, CudaStreamedIndexMachine):
    machine.TestCase.settings = SETTINGS
TestIndexMachine = IndexMachine.TestCase
TestStreamedIndexMachine = StreamedIndexMachine.TestCase
TestCudaIndexMachine = pytest.mark.gpu(CudaIndexMachine.TestCase)
TestCudaStreamedIndexMachine = pytest.mark.gpu(CudaStreamedIndexMachine.TestCase)


def test_views_are_snapshots(tmp_path, device):
    with open_store(tmp_path / "s") as store:
        store.create_namespace("n")
        index = RoutingIndex(store, device=device, compact_ratio=0.01)  # compact on every delete
        store.write("n", [doc(f"d{i}", seed=i) for i in range(5)])
        before = index.snapshot("n")
        q = query(4)
        want = best(before, LAYERS[0], q, 5)
        written = store.write("n", [doc("new", "x" * 30, seed=9)])
        index.patch("n", {written[0].ordinal: dict(doc("new", "x" * 30, seed=9).encoding.routing_keys)}, [])
        gone = store.delete("n", ["d0", "d1"])
        index.patch("n", {}, [d.ordinal for d in gone])
        assert best(before, LAYERS[0], q, 5) == want  # the old view still answers with the old state
        after = index.snapshot("n")
        assert after[LAYERS[0]].epoch > before[LAYERS[0]].epoch
        assert best(after, LAYERS[0], q, 10)[0] == oracle(store, "n", LAYERS[0], q, 10)[0]
        assert 0 not in best(after, LAYERS[0], q, 10)[0] and 1 not in best(after, LAYERS[0], q, 10)[0]


def test_ties_go_to_the_lower_ordinal(tmp_path, device):
    with open_store(tmp_path / "s") as store:
        store.create_namespace("n")
        index = RoutingIndex(store, device=device)
        same = doc("a", "same text", seed=3)
        store.write("n", [doc("x", seed=1), same, doc("b", "same text", seed=3)])
        index.snapshot("n")
        # re-append "a" (ordinal 1) after "b" (ordinal 2): equal scores must still rank 1 first
        store.write("n", [doc("a", "same text!", seed=3)], mode="upsert")
        index.patch("n", {1: dict(same.encoding.routing_keys)}, [])
        ordinals, scores = best(index.snapshot("n"), LAYERS[0], query(5), 3)
        assert scores[ordinals.index(1)] == scores[ordinals.index(2)]
        assert ordinals.index(1) < ordinals.index(2)


def test_eviction_keeps_the_budget_and_reloads(tmp_path, device):
    with open_store(tmp_path / "s") as store:
        for ns in ("a", "b", "c"):
            store.create_namespace(ns)
            store.write(ns, [doc(f"d{i}", "y" * random.Random(i).randint(1, 60), seed=i) for i in range(20)])
        index = RoutingIndex(store, device=device)
        index.snapshot("a")
        one = index.resident_bytes  # every layer of one namespace
        index.budget = int(one * 2.5)
        q = query(7)
        results = {ns: best(index.snapshot(ns), LAYERS[0], q, 4) for ns in ("a", "b", "c")}
        assert index.resident_bytes <= index.budget and "a" not in index.spaces
        assert best(index.snapshot("a"), LAYERS[0], q, 4) == results["a"]  # reloaded from the store


def test_empty_namespace_and_drop(tmp_path, device):
    with open_store(tmp_path / "s") as store:
        store.create_namespace("n")
        index = RoutingIndex(store, device=device)
        assert best(index.snapshot("n"), LAYERS[0], query(1), 4) == ([], [])
        written = store.write("n", [doc("a", seed=2)])
        index.patch("n", {written[0].ordinal: dict(doc("a", seed=2).encoding.routing_keys)}, [])
        assert best(index.snapshot("n"), LAYERS[0], query(1), 4)[0] == [0]
        index.drop("n")
        assert not index.spaces


def test_snapshots_during_writes_never_see_half_a_batch(tmp_path, device):
    """A writer commits batches of 3 and patches the index while another thread takes snapshots: every
    snapshot holds whole batches only, the same documents on every layer."""
    import threading

    with open_store(tmp_path / "s") as store:
        store.create_namespace("n")
        index = RoutingIndex(store, device=device, compact_ratio=0.2)
        index.snapshot("n")
        done, seen, errors = threading.Event(), [], []

        def writer() -> None:
            for b in range(40):
                docs = [doc(f"b{b}-{j}", "v" * (b + j + 1), seed=b * 3 + j) for j in range(3)]
                results = store.write("n", docs)
                index.patch("n", {r.ordinal: dict(d.encoding.routing_keys) for r, d in zip(results, docs, strict=True)},
                            [])
                if b % 5 == 4:  # and delete a whole earlier batch now and then
                    gone = store.delete("n", [f"b{b - 4}-{j}" for j in range(3)])
                    index.patch("n", {}, [d.ordinal for d in gone])
            done.set()

        def reader() -> None:
            while not done.is_set():
                views = index.snapshot("n")
                alive = [sorted(v.slot_ordinal[v.alive()].tolist()) for v in views.values()]
                if any(a != alive[0] for a in alive) or len(alive[0]) % 3:
                    errors.append(alive)
                seen.append(len(alive[0]))

        threads = [threading.Thread(target=writer), threading.Thread(target=reader)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors and len(set(seen)) > 3


def test_a_namespace_that_outgrows_the_budget_streams_from_the_host(tmp_path, device):
    with open_store(tmp_path / "s") as store:
        store.create_namespace("n")
        store.write("n", [doc(f"d{i}", "z" * 20, seed=i) for i in range(4)])
        index = RoutingIndex(store, device=device, stream_rows=5)
        index.snapshot("n")
        index.budget = 2 * index.key_bytes("n")  # fits now
        docs = [doc(f"e{i}", "z" * 40, seed=10 + i) for i in range(8)]
        written = store.write("n", docs)
        index.patch("n", {r.ordinal: dict(d.encoding.routing_keys) for r, d in zip(written, docs, strict=True)}, [])
        q = query(8)
        assert not index.streamed("n")
        views = index.snapshot("n")  # reloaded into host memory: it no longer fits
        assert index.streamed("n") and index.resident_bytes == 0 and index.host_bytes > 0
        assert views[LAYERS[0]].keys.device.type == "cpu"
        assert views[LAYERS[0]].keys.is_pinned() == (device == "cuda")
        for layer in LAYERS:
            assert best(index.snapshot("n"), layer, q, 6)[0] == oracle(store, "n", layer, q, 6)[0]


def test_host_budget_evicts_streamed_namespaces(tmp_path):
    with open_store(tmp_path / "s") as store:
        for ns in ("a", "b"):
            store.create_namespace(ns)
            store.write(ns, [doc(f"d{i}", seed=i) for i in range(5)])
        index = RoutingIndex(store, budget_bytes=0)
        index.snapshot("a")
        index.host_budget = index.host_bytes + 1
        index.snapshot("b")
        assert list(index.spaces) == ["b"] and index.streamed("b")


def layered(ordinal: int, rows: int, layers=(3, 5), seed: int = 0) -> tuple[int, dict[int, torch.Tensor]]:
    g = torch.Generator().manual_seed(ordinal * 100 + seed)
    return ordinal, {layer: torch.randn(rows, 2, 8, generator=g) for layer in layers}


def test_the_layers_of_one_state_share_one_row_layout():
    """What a question derives from the rows (live slots, a filter's owners) is worked out once for all
    layers; a narrowing of views from two states is refused."""
    slab = routing_index.Slab(torch.device("cpu"), torch.float32, 0.5, [3, 5])
    slab.apply([layered(0, 2), layered(4, 3), layered(9, 1)], [])
    before = slab.views
    assert before[3].layout is before[5].layout and before[3].keys is not before[5].keys
    slab.apply([layered(4, 2, seed=1)], [0])  # an update and a delete
    after = slab.views
    assert after[3].layout is after[5].layout is not before[3].layout
    assert after[3].live_ordinals.tolist() == [4, 9] and before[3].live_ordinals.tolist() == [0, 4, 9]
    narrowing = routing_index.Narrowing([after[3], after[5]], Passing.of(torch.tensor([9]), 10))
    assert narrowing.keep.tolist() == [1]
    q = torch.randn(2, 4, 8)
    for layer in (3, 5):  # the shared owners give each layer's own scores of the filter's document
        want = after[layer].scores_of([q])[:, 1]
        torch.testing.assert_close(narrowing.scores(after[layer], [q], RouteSpec())[:, 0], want)
    with pytest.raises(ValueError, match="one state"):
        routing_index.Narrowing([after[3], before[5]], Passing.of(torch.tensor([9]), 10))


def test_a_document_needs_the_same_rows_in_every_layer():
    slab = routing_index.Slab(torch.device("cpu"), torch.float32, 0.5, [3, 5])
    ordinal, keys = layered(1, 2)
    keys[5] = keys[5][:1]
    with pytest.raises(ValueError, match="same number of rows"):
        slab.apply([(ordinal, keys)], [])
    with pytest.raises(ValueError, match="same number of rows"):
        slab.apply([(1, {3: keys[3]})], [])  # a layer missing
    assert slab.rows == 0 and slab.views[3].live_ordinals.tolist() == []
    with pytest.raises(ValueError, match="different documents"):
        routing_index.by_document({3: [(1, torch.zeros(1, 2, 8))], 5: []})


def test_a_capacity_hint_makes_room_once():
    slab = routing_index.Slab(torch.device("cpu"), torch.float32, 0.5, [3, 5], capacity=100)
    slab.apply([layered(0, 10)], [])
    buffers = slab.row_slot, slab.keys[3], slab.keys[5]
    slab.apply([layered(1, 10), layered(2, 70)], [])
    now = slab.row_slot, slab.keys[3], slab.keys[5]
    assert all(a is b for a, b in zip(now, buffers, strict=True))  # no growth: the same buffers
    slab.apply([layered(3, 30)], [])
    assert slab.row_slot is not buffers[0] and slab.rows == 120


def test_a_refused_change_changes_nothing():
    """Keys of the wrong shape are refused before any of the change is made: a delete in the same change
    is not half done (the document stays live and can still be deleted)."""
    slab = routing_index.Slab(torch.device("cpu"), torch.float32, 0.9, [3, 5])
    slab.apply([layered(1, 2), layered(2, 3)], [])
    before = slab.views[3]
    wrong = {3: torch.randn(2, 2, 4), 5: torch.randn(2, 2, 4)}  # D = 4, not 8
    with pytest.raises(ValueError, match="expected"):
        slab.apply([(7, wrong)], [1])
    assert slab.views[3] is before and slab.span[1] == (0, 2) and slab.dead == 0
    slab.apply([], [1])
    assert slab.views[3].live_ordinals.tolist() == [2]


def test_keys_that_are_not_rows_of_heads_are_refused_and_an_emptied_slab_takes_any_shape():
    slab = routing_index.Slab(torch.device("cpu"), torch.float32, 0.1, [3, 5])
    with pytest.raises(ValueError, match=r"\[rows, heads, dim\]"):
        slab.apply([(1, {3: torch.randn(2, 8), 5: torch.randn(2, 8)})], [])
    slab.apply([layered(1, 2)], [])  # [2, 2, 8] a layer
    slab.apply([], [1])  # everything deleted and compacted away
    assert slab.rows == 0
    wider = {layer: torch.randn(3, 4, 8) for layer in (3, 5)}  # another head count: a new model's keys
    slab.apply([(2, wider)], [])
    assert slab.views[3].live_ordinals.tolist() == [2] and slab.keys[5].shape[1:] == (4, 8)
    slab.apply([(4, {3: torch.zeros(0, 4, 8), 5: torch.zeros(0, 4, 8)})], [])  # a document without rows
    assert slab.views[3].live_ordinals.tolist() == [2]


def test_default_budget_is_a_gpus_free_memory_less_a_reserve_and_8_gib_on_a_cpu():
    assert routing_index.default_budget(torch.device("cpu")) == 8 << 30
    gib = 1 << 30
    with mock.patch.object(torch.cuda, "mem_get_info", return_value=(132 * gib, 140 * gib)):
        assert routing_index.default_budget(torch.device("cuda")) == 132 * gib - int(0.3 * 140 * gib)
    with mock.patch.object(torch.cuda, "mem_get_info", return_value=(10 * gib, 80 * gib)):
        assert routing_index.default_budget(torch.device("cuda")) == 0  # a full device: every namespace streams
