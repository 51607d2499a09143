"""Long prefills run in chunks: the same logits, cache and routing as one forward, and a cancelled call stops
between chunks (issue 17: cancellation stops model work promptly)."""

from __future__ import annotations

import pytest
import torch

from msa.model.api import MSAModel
from msa.model.decoder import CachedMixer, KVCache
from msa.model.memory import Memory
from msa.model.prefill import PREFILL_CHUNK, Cancelled
from msa.model.prompts import question_tokens, text_mode_prompt
from msa.model.routing import RoutedPrefillMixer, route_spec
from tests.conftest import rel_err

NOTES = [(n, f"Note {n}: the {colour} house by the river is where Anna lives. " * 40)
         for n, colour in enumerate(["red", "blue", "green", "red", "blue"])]
LONG_QUESTION = "which city and river was she born in? " * 40  # ~800 tokens: two routing chunks


@pytest.fixture(scope="module")
def model(checkpoint) -> MSAModel:
    return MSAModel.from_pretrained(checkpoint("qwen3"))


@pytest.fixture(scope="module")
def memory(model) -> Memory:
    return Memory(model.encode_documents([text for _, text in NOTES]))


def forwards(model: MSAModel, monkeypatch) -> list[int]:
    """Records the length of every forward the model runs from now on."""
    seen, run = [], model.transformer.hidden_states

    def spy(ids, positions, mixer, num_layers=None):
        seen.append(ids.shape[0])
        return run(ids, positions, mixer, num_layers)

    monkeypatch.setattr(model.transformer, "hidden_states", spy)
    return seen


def test_chunked_text_prefill_equals_one_forward(model, monkeypatch):
    ids = model.tokenizer.encode(text_mode_prompt(model.tokenizer, "Where does Anna live?", NOTES))
    assert len(ids) > 3 * PREFILL_CHUNK
    whole = KVCache(model.config.num_hidden_layers)
    with torch.no_grad():
        want = model.transformer(torch.tensor(ids), torch.arange(len(ids)), CachedMixer(whole))[-1]
    seen = forwards(model, monkeypatch)
    cache, got, length = model._read_prefill("Where does Anna live?", NOTES)
    assert length == len(ids) and seen == [PREFILL_CHUNK] * (len(ids) // PREFILL_CHUNK) + [len(ids) % PREFILL_CHUNK]
    assert rel_err(got, want) <= 1e-5
    for layer in range(model.config.num_hidden_layers):
        assert rel_err(cache.k[layer], whole.k[layer]) <= 1e-5 and rel_err(cache.v[layer], whole.v[layer]) <= 1e-5


def test_chunked_routing_equals_one_forward(model, memory, monkeypatch):
    q = question_tokens(model.tokenizer, LONG_QUESTION)
    assert PREFILL_CHUNK < len(q.ids) <= 1024 + 64
    top_k, spec = 2, route_spec(model.config, "clean", model.dtype)
    start = len(model.template_ids) + top_k
    mixer = RoutedPrefillMixer(KVCache(model.config.num_hidden_layers), model.config, model.template, memory,
                               torch.tensor(q.routing), spec, top_k, inject=False)
    with torch.no_grad():
        model.transformer.hidden_states(torch.tensor(q.ids), torch.arange(start, start + len(q.ids)), mixer)
    want = mixer.finish()
    seen = forwards(model, monkeypatch)
    got = model.route(LONG_QUESTION, memory, top_k=top_k, mode="clean", read_mode="text")
    assert seen == [PREFILL_CHUNK, len(q.ids) - PREFILL_CHUNK]
    assert sorted(got.layers) == sorted(want.layers) == list(model.config.msa.router_layers)
    for layer, lr in got.layers.items():
        assert rel_err(lr.scores, want.layers[layer].scores) <= 1e-5
        assert lr.selected == want.layers[layer].selected


def test_short_prompts_stay_one_forward(model, monkeypatch):
    memory = Memory(model.encode_documents(["Anna lives in the red house.", "Rex lives by the river."]))
    seen = forwards(model, monkeypatch)
    model.route("Where does Anna live?", memory, top_k=2, read_mode="text")
    model.generate("Where does Anna live?", memory, top_k=2, read_mode="text", max_new_tokens=1)
    assert len(seen) == 3 and max(seen) <= PREFILL_CHUNK  # route; route and read (one token, no decode step)


def test_a_cancelled_prefill_stops_between_chunks(model, memory, monkeypatch):
    seen = forwards(model, monkeypatch)
    asked = []

    def cancelled() -> bool:  # the caller goes away while the first chunk runs
        asked.append(len(seen))
        return len(seen) > 0

    with pytest.raises(Cancelled):
        model._read_prefill("Where does Anna live?", NOTES, cancelled)
    assert seen == [PREFILL_CHUNK] and asked == [0, 1]
    seen.clear()
    with pytest.raises(Cancelled):
        model.route(LONG_QUESTION, memory, top_k=2, read_mode="text", cancelled=cancelled)
    assert seen == [PREFILL_CHUNK]
    seen.clear()
    with pytest.raises(Cancelled):  # kv reading routes the question in one forward: checked before it
        next(model.stream(LONG_QUESTION, memory, top_k=2, read_mode="kv", cancelled=lambda: True))
    assert seen == []
