"""Generation: seeds, stop tokens, streaming, reading modes, and the option checks."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from msa.kernels.route import RouteSpec
from msa.kernels.route.naive import route_scores as naive_route_scores
from msa.model.api import MSAModel
from msa.model.generate import GenerationResult, Retrieved, Sampling, Token, next_token
from msa.model.memory import Memory
from msa.model.prompts import text_mode_prompt

FACTS = ["Rex is a dog who lives in Paris.", "Anna works at a bakery in Lyon.", "The river Sena flows north."]


@pytest.fixture(scope="module")
def model(checkpoint):
    return MSAModel.from_pretrained(checkpoint("qwen3"))


@pytest.fixture(scope="module")
def memory(model):
    return Memory(model.encode_documents(FACTS))


def test_same_seed_same_tokens(model, memory):
    kw = dict(max_new_tokens=12, temperature=1.0, top_p=0.9)
    a = model.generate("Where does Rex live?", memory, seed=1, **kw)
    b = model.generate("Where does Rex live?", memory, seed=1, **kw)
    c = model.generate("Where does Rex live?", memory, seed=2, **kw)
    assert a.token_ids == b.token_ids and len(a.token_ids) == 12 and a.stop_reason == "length"
    assert a.token_ids != c.token_ids


def test_greedy_is_deterministic_and_default(model, memory):
    a = model.generate("Who works in Lyon?", memory, max_new_tokens=6)
    b = model.generate("Who works in Lyon?", memory, max_new_tokens=6, temperature=0.0, seed=99)
    assert a.token_ids == b.token_ids


def test_stop_tokens_end_generation(model, memory):
    free = model.generate("Where does Rex live?", memory, max_new_tokens=8)
    stop = free.token_ids[3]
    first = free.token_ids.index(stop)
    saved = model.stop_ids
    model.stop_ids = {stop}
    try:
        stopped = model.generate("Where does Rex live?", memory, max_new_tokens=8)
    finally:
        model.stop_ids = saved
    assert stopped.stop_reason == "stop" and stopped.token_ids == free.token_ids[:first]


def test_stop_ids_come_from_generation_config(model):
    tok = model.tokenizer
    assert model.stop_ids == {tok.token_id("<|im_end|>"), tok.token_id("<|endoftext|>")}


@pytest.mark.parametrize("read_mode", ["kv", "text"])
@pytest.mark.parametrize("temperature", [0.0, 1.3])
def test_streaming_equals_non_streaming(model, memory, read_mode, temperature):
    kw = dict(max_new_tokens=16, temperature=temperature, seed=5, read_mode=read_mode)
    events = list(model.stream("What flows north?", memory, **kw))
    retrieved, tokens, final = events[0], events[1:-1], events[-1]
    assert all(isinstance(e, Token) for e in tokens) and isinstance(final, GenerationResult)
    assert isinstance(retrieved, Retrieved) and retrieved.documents == final.documents
    assert "".join(e.text for e in tokens) == final.text
    assert [e.id for e in tokens] == final.token_ids
    assert final.text == model.generate("What flows north?", memory, **kw).text
    assert final.text == model.tokenizer.decode(final.token_ids)


def test_routing_selects_top_k_per_router_layer(model, memory):
    routing = model.route("Where does Rex live?", memory, top_k=2)
    assert sorted(routing.layers) == list(model.config.msa.router_layers)
    for lr in routing.layers.values():
        assert len(lr.selected) == 2 and set(lr.selected) <= {0, 1, 2}
        assert lr.selected_scores == sorted(lr.selected_scores, reverse=True)
    ranking = routing.ranking("rrf")
    assert sorted(n for n, _ in ranking) == [0, 1, 2]


def test_text_mode_reads_selected_documents(model, memory):
    result = model.generate("Where does Rex live?", memory, read_mode="text", top_k=2, max_new_tokens=2)
    notes = [(n, FACTS[n]) for n in result.documents]  # read best last, as the prompt holds them
    prompt = text_mode_prompt(model.tokenizer, "Where does Rex live?", notes)
    assert len(notes) == 2 and result.prompt_tokens == len(model.tokenizer.encode(prompt))
    empty = model.generate("Where does Rex live?", Memory(), read_mode="text", max_new_tokens=2)
    assert empty.prompt_tokens < result.prompt_tokens and not empty.routing.layers


def test_a_vanishing_temperature_is_greedy():
    logits = torch.tensor([0.5, 3.0, -1.0, 2.999, float("-inf")])
    for t in (1e-310, 1e-300, 1e-45, 1e-6):
        assert next_token(logits, Sampling(temperature=t), torch.Generator().manual_seed(0)) == 1


def test_text_reading_never_outgrows_the_context(model):
    """However many long notes top_k reads, the prompt and the answer fit the model's context; the worst
    notes are left out (issue 17: a read request's memory grew with top_k x document length)."""
    notes = [f"Note {i} says the code word is {'lorem ipsum ' * 300}".strip() for i in range(6)]  # ~900 tokens each
    memory = Memory(model.encode_documents(notes))
    context = model.config.max_position_embeddings
    result = model.generate("What is the code word?", memory, read_mode="text", top_k=6, max_new_tokens=50)
    assert 1 <= len(result.documents) < 6
    assert result.prompt_tokens + 50 <= context
    ranked = [(n, notes[n]) for n, _ in result.routing.ranking()[:6]]
    kept = model.notes_within_context("What is the code word?", ranked, 50)
    assert sorted(n for n, _ in kept) == sorted(result.documents) and kept == ranked[:len(kept)]
    one_more = ranked[:len(kept) + 1][::-1]
    assert len(model.tokenizer.encode(text_mode_prompt(model.tokenizer, "What is the code word?", one_more))) + 50 \
        > context


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(mode="fast"), "mode 'fast'"),
    (dict(read_mode="auto2"), "read_mode 'auto2'"),
    (dict(top_k=0), "top_k must be >= 1"),
    (dict(top_p=0.0), "top_p must be in"),
    (dict(temperature=-1.0), "temperature must be a finite number >= 0"),
    (dict(temperature=float("nan")), "temperature must be a finite number >= 0"),
])
def test_bad_options_are_clear_errors(model, memory, kwargs, message):
    with pytest.raises(ValueError, match=message):
        model.generate("q", memory, **kwargs)


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_half_precision_runs(checkpoint, dtype):
    model = MSAModel.from_pretrained(checkpoint("qwen3", dtype="bfloat16"), dtype=dtype)
    memory = Memory(model.encode_documents(FACTS))
    assert memory[0].keys[2].dtype == getattr(__import__("torch"), dtype)
    result = model.generate("Where does Rex live?", memory, max_new_tokens=4, top_k=2)
    full = MSAModel.from_pretrained(checkpoint("qwen3", dtype="bfloat16"), dtype="float32")  # the same weights
    want = full.route("Where does Rex live?", Memory(full.encode_documents(FACTS)), top_k=2)
    assert len(result.token_ids) == 4 and sorted(result.routing.layers) == sorted(want.layers)
    for layer, lr in result.routing.layers.items():  # half precision routes as float32 does, to rounding
        assert lr.selected == want.layers[layer].selected
        torch.testing.assert_close(lr.scores.float(), want.layers[layer].scores, rtol=0, atol=1e-3)


@pytest.mark.parametrize("overrides", [
    dict(decouple_router=False, aux_loss_method="INFONCE"),  # pooled attention keys route, cosine
    dict(aux_loss_method="INFONCE"),  # decoupled cosine
    dict(head_reduce_method="max", query_reduce_method="last", chunk_reduce_method="mean"),
])
def test_routing_variants(checkpoint, overrides):
    """Each variant routes as its msa_config says: documents are routed by their pooled attention keys exactly
    when the router is not decoupled; scores use the configured reductions and are the oracle's for the
    routing queries; each layer selects its two best."""
    model = MSAModel.from_pretrained(checkpoint("llama", **overrides))
    msa = model.config.msa
    memory = Memory(model.encode_documents(FACTS))
    for layer in msa.router_layers:
        assert torch.equal(memory[0].routing_keys[layer], memory[0].keys[layer]) == (not msa.decouple_router)
    asked: list[tuple[dict[int, torch.Tensor], RouteSpec]] = []
    route = memory.route
    memory.route = lambda queries, spec, k: asked.append((queries, spec)) or route(queries, spec, k)
    for key, value in overrides.items():
        assert getattr(msa, key) == value
    for mode in ("compat", "clean"):
        asked.clear()
        routing = model.route("Where does Rex live?", memory, top_k=2, mode=mode)
        for queries, spec in asked:
            assert (spec.head_reduce, spec.query_reduce, spec.chunk_reduce) == (
                msa.head_reduce_method, msa.query_reduce_method, msa.chunk_reduce_method)
            for layer, q in queries.items():
                want = naive_route_scores(q, *memory.routing_bank(layer), len(memory), spec).float()
                lr = routing.layers[layer]
                torch.testing.assert_close(lr.scores, want)
                assert lr.selected == torch.sort(want, descending=True, stable=True).indices[:2].tolist()
        assert sorted(layer for queries, _ in asked for layer in queries) == list(msa.router_layers)


def test_compat_scores_in_the_models_own_dtype(model, memory):
    """The reference scores routing in its weights' dtype: an fp32 model's compat scores are fp32, within
    fp32 rounding of a float64 evaluation of the same formula (bf16 scores are ~1e-2 away)."""
    asked: list[tuple[dict[int, torch.Tensor], RouteSpec]] = []
    route = memory.route
    memory.route = lambda queries, spec, k: asked.append((queries, spec)) or route(queries, spec, k)
    try:
        routing = model.route("Where does Rex live?", memory, top_k=2, mode="compat")
    finally:
        memory.route = route
    assert sorted(layer for queries, _ in asked for layer in queries) == list(model.config.msa.router_layers)
    for queries, spec in asked:
        assert spec.score_dtype == torch.float32
        exact = dataclasses.replace(spec, score_dtype=torch.float64)
        for layer, q in queries.items():
            keys, owner = memory.routing_bank(layer)
            want = naive_route_scores(q.double(), keys.double(), owner, len(memory), exact)
            torch.testing.assert_close(routing.layers[layer].scores.double(), want, rtol=1e-5, atol=1e-6)
