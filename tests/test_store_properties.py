"""Property tests: blob codecs round-trip any tensor; the store behaves like a dict under random edits."""

from __future__ import annotations

import tempfile

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from msa.memstore.errors import AlreadyExists, CorruptData, NotFound, VersionConflict
from msa.memstore.storage import blob
from tests.store_helpers import LAYERS, doc, encoding, open_store

DTYPES = [torch.float32, torch.bfloat16, torch.float16, torch.int32, torch.int64, torch.uint8, torch.int8]


@settings(max_examples=150, deadline=None)
@given(shape=st.lists(st.integers(0, 9), min_size=0, max_size=4), dtype=st.sampled_from(DTYPES),
       codec=st.sampled_from(list(blob.Codec)), seed=st.integers(0, 2**31 - 1))
def test_blob_round_trip(shape, dtype, codec, seed):
    g = torch.Generator().manual_seed(seed)
    bits = torch.randint(0, 256, (int(torch.tensor(shape).prod()) * dtype.itemsize,), dtype=torch.uint8, generator=g)
    t = bits.view(dtype).reshape(shape)  # every bit pattern, NaNs and infinities included
    data = blob.encode(t, codec)
    back = blob.decode(data)
    assert back.dtype == dtype and back.shape == t.shape
    assert torch.equal(back.reshape(-1).view(torch.uint8), t.reshape(-1).view(torch.uint8))


@settings(max_examples=100, deadline=None)
@given(codec=st.sampled_from(list(blob.Codec)), position=st.integers(0, 10**6), bit=st.integers(0, 7))
def test_any_flipped_bit_is_detected(codec, position, bit):
    data = bytearray(blob.encode(torch.randn(4, 3, generator=torch.Generator().manual_seed(1)), codec))
    data[position % len(data)] ^= 1 << bit
    try:
        blob.decode(bytes(data))
    except CorruptData:
        return
    raise AssertionError("a damaged blob decoded")


class StoreMachine(RuleBasedStateMachine):
    """Random writes, upserts, updates and deletes against a dict of what must be there."""

    def __init__(self) -> None:
        super().__init__()
        self.dir = tempfile.TemporaryDirectory()
        self.store = open_store(self.dir.name, map_size=64 * 1024)  # small: growth happens along the way
        self.store.create_namespace("n")
        self.model: dict[str, tuple[str, int, dict]] = {}  # id -> (text, version, metadata)
        self.last_version: dict[str, int] = {}  # id -> its last version, kept in the history after a delete
        self.ordinals: dict[str, int] = {}
        self.next_ordinal = 0

    ids = st.sampled_from([f"id{i}" for i in range(8)])
    texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=80)

    @rule(doc_id=ids, text=texts, upsert=st.booleans())
    def write(self, doc_id, text, upsert):
        mode = "upsert" if upsert else "create"
        try:
            (res,) = self.store.write("n", [doc(doc_id, text)], mode=mode)
        except AlreadyExists:
            assert doc_id in self.model and mode == "create"
            return
        if doc_id not in self.model:
            self.ordinals[doc_id], self.next_ordinal = self.next_ordinal, self.next_ordinal + 1
            self.model[doc_id] = (text, self.last_version.get(doc_id, 0) + 1, {})  # a re-created id goes on
        elif self.model[doc_id][0] != text or self.model[doc_id][2] != {}:
            self.model[doc_id] = (text, self.model[doc_id][1] + 1, {})
        assert (res.version, res.ordinal) == (self.model[doc_id][1], self.ordinals[doc_id])

    @precondition(lambda self: self.model)
    @rule(data=st.data(), key=st.text("ab", min_size=1, max_size=2), stale=st.booleans())
    def update_metadata(self, data, key, stale):
        doc_id = data.draw(st.sampled_from(sorted(self.model)))
        text, version, meta = self.model[doc_id]
        expected = version + 1 if stale else version
        try:
            res = self.store.update("n", doc_id, metadata={key: "v"}, expected_version=expected)
        except VersionConflict:
            assert stale
            return
        assert not stale
        if meta != {key: "v"}:
            self.model[doc_id] = (text, version + 1, {key: "v"})
        assert res.version == self.model[doc_id][1]

    @precondition(lambda self: self.model)
    @rule(data=st.data(), text=texts)
    def update_text(self, data, text):
        doc_id = data.draw(st.sampled_from(sorted(self.model)))
        old, version, meta = self.model[doc_id]
        self.store.update("n", doc_id, text=text, encoding=encoding(text))
        if text != old:
            self.model[doc_id] = (text, version + 1, meta)

    @rule(doc_id=ids)
    def delete(self, doc_id):
        if doc_id not in self.model:  # all or nothing: an absent id deletes nothing
            with pytest.raises(NotFound):
                self.store.delete("n", [doc_id])
            return
        assert [d.id for d in self.store.delete("n", [doc_id])] == [doc_id]
        self.last_version[doc_id] = self.model.pop(doc_id)[1]

    @invariant()
    def matches_model(self):
        page, _ = self.store.list("n", page_size=100)
        assert [d.id for d in page] == sorted(self.model, key=self.ordinals.__getitem__)
        for d in page:
            full = self.store.get("n", d.id)
            assert (full.text, full.version, full.metadata) == self.model[d.id]
            assert full.tokens == len(full.text.encode())  # the test encoding: one token a byte
        keys = self.store.namespace_routing_keys("n")[LAYERS[0]]
        assert [o for o, _ in keys] == sorted(self.ordinals[i] for i in self.model)
        for missing in set(self.ordinals) - set(self.model):
            try:
                self.store.get("n", missing)
                raise AssertionError(f"{missing} should be gone")
            except NotFound:
                pass

    def teardown(self):
        assert self.store.check() == []
        self.store.close()
        self.dir.cleanup()


TestStoreMachine = StoreMachine.TestCase
TestStoreMachine.settings = settings(max_examples=25, stateful_step_count=30, deadline=None)
