"""Decoding steps replayed from a CUDA graph give the eager steps' logits and answers (GPU only)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from msa.model import decode_graph, generate
from msa.model.api import MSAModel
from msa.model.decoder import CachedMixer
from msa.model.memory import Memory
from tests.conftest import rel_err

pytestmark = pytest.mark.gpu
FACTS = ["Rex is a dog who lives in Paris.", "Anna works at a bakery in Lyon. " * 5, "The river Sena flows north.",
         "Bob keeps bees on the roof of the school. " * 9]
TOL = {"float32": 1e-5, "bfloat16": 3e-2}


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("read_mode", ["kv", "text"])
def test_replayed_steps_give_the_eager_logits(checkpoint, dtype, read_mode):
    model = MSAModel.from_pretrained(checkpoint("qwen3", dtype=dtype), device="cuda", dtype=dtype)
    memory = Memory(model.encode_documents(FACTS))
    if read_mode == "kv":
        cache, _, position, _, _ = model._prefill(model._request("Where does Rex live?"), memory, "clean", 2,
                                                        inject=True)
        assert any(m is not None and m.rows.numel() for m in cache.memory)  # memory rows are read
    else:
        cache, _, position = model._read_prefill("Where does Rex live?", [(0, FACTS[0]), (3, FACTS[3])])
    tokens = torch.randint(0, model.config.vocab_size, (70,), generator=torch.Generator().manual_seed(1)).tolist()
    scope = model.routing if read_mode == "kv" else model.reading
    graphed = decode_graph.GraphedSteps(model.transformer, cache, len(tokens), scope)  # copies the cache
    eager = CachedMixer(cache)
    for i, token in enumerate(tokens):  # 70 steps: past a 64-key block of the local cache
        got = graphed.step(token, position + i, i).clone()
        with scope():
            want = model.transformer(torch.tensor([token], device="cuda"), torch.tensor([position + i], device="cuda"),
                                     eager)[-1]
        assert rel_err(got, want) <= TOL[dtype], i


def test_answers_are_those_of_eager_decoding(checkpoint, monkeypatch):
    model = MSAModel.from_pretrained(checkpoint("qwen3"), device="cuda")
    memory = Memory(model.encode_documents(FACTS))
    captures = []
    monkeypatch.setattr(generate, "GraphedSteps", lambda *a: captures.append(a) or decode_graph.GraphedSteps(*a))
    kw = dict(max_new_tokens=24, top_k=2, mode="clean")
    graphed = [model.generate("Where does Rex live?", memory, read_mode=m, **kw).token_ids for m in ("kv", "text")]
    assert len(captures) == 2
    monkeypatch.setenv("MSA_CUDA_GRAPHS", "0")
    eager = [model.generate("Where does Rex live?", memory, read_mode=m, **kw).token_ids for m in ("kv", "text")]
    assert len(captures) == 2 and graphed == eager


def test_answers_decoded_at_once_in_threads_are_those_decoded_alone(checkpoint):
    """Several answers' first steps and captures at the same time (a server's threads): each its own."""
    model = MSAModel.from_pretrained(checkpoint("qwen3"), device="cuda")
    memory = Memory(model.encode_documents(FACTS))
    questions = ["Where does Rex live?", "Who keeps bees?", "Where is the bakery?", "Which way does the Sena flow?"]
    kw = dict(max_new_tokens=40, top_k=2, mode="clean")
    alone = [model.generate(q, memory, **kw).token_ids for q in questions]
    with ThreadPoolExecutor(len(questions)) as pool:
        together = list(pool.map(lambda q: model.generate(q, memory, **kw).token_ids, questions * 3))
    assert together == alone * 3
