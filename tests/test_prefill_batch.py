"""Questions prefilled together in one packed forward (`model/prefill_batch.py`) get what each gets alone: the same
cache, memory rows, routing and logits; concurrent callers are packed; a failing or cancelled question fails alone.
On the CPU and, where there is one, on a GPU."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from msa.model.api import MSAModel
from msa.model.int8 import OneTokenInt8
from msa.model.memory import Memory
from msa.model.prefill import Cancelled
from msa.model.prefill_batch import PrefillRequest, prefill_each
from msa.model.prompts import QuestionTokens
from tests.adapter_helpers import reader_checkpoint
from tests.conftest import rel_err

FACTS = ["Rex is a dog who lives in Paris.", "Anna works at a bakery in Lyon. " * 5, "The river Sena flows north.",
         "Bob keeps bees on the roof of the school. " * 9, "Mia plays the cello on Sundays."]
SHARED_FAILED = "prefill_batch.shared_failed"  # logged when a packed forward fails and its questions go alone
QUESTIONS = ["Where does Rex live?", "Who keeps bees on the roof of the old school near the river?", "Anna?"]


def model_and_memories(checkpoint, device: str, **overrides) -> tuple[MSAModel, list[Memory]]:
    model = MSAModel.from_pretrained(checkpoint("qwen3", **overrides), device=device)
    docs = model.encode_documents(FACTS)
    return model, [Memory(docs), Memory(docs[1:4]), Memory()]  # other memories, one empty


@pytest.mark.parametrize("decouple_router", [True, False])
def test_questions_prefilled_together_get_what_each_gets_alone(checkpoint, device, decouple_router, caplog):
    """Three questions of other lengths over other memories (one empty) in one forward, against each alone."""
    model, memories = model_and_memories(checkpoint, device, decouple_router=decouple_router)
    requests = [PrefillRequest(model._request(q), m) for q, m in zip(QUESTIONS, memories, strict=True)]
    got = model._prefill_requests(requests, "clean", 2)
    assert len(got) == 3 and SHARED_FAILED not in caplog.text  # the packed forward, not each alone
    for r, outcome in zip(requests, got, strict=True):
        cache, logits, position, routing, n = outcome.get()
        w_cache, w_logits, w_position, w_routing, w_n = model._prefill(r.tokens, r.memory, "clean", 2, inject=True)
        assert (position, n) == (w_position, w_n)
        assert rel_err(logits, w_logits) < 1e-5
        assert {layer: lr.selected for layer, lr in routing.layers.items()} == \
            {layer: lr.selected for layer, lr in w_routing.layers.items()}
        for layer in range(model.config.num_hidden_layers):
            assert rel_err(cache.k[layer], w_cache.k[layer]) < 1e-5
            assert rel_err(cache.v[layer], w_cache.v[layer]) < 1e-5
            mine, want = cache.memory[layer], w_cache.memory[layer]
            assert (mine is None) == (want is None)
            if want is not None:
                assert torch.equal(mine.rows.cpu(), want.rows.cpu())
                assert all(torch.equal(a, b) for a, b in zip(mine.gather(), want.gather(), strict=True))
    assert any(lr.selected for lr in got[0].get()[3].layers.values())  # routing read memory rows
    assert not got[2].get()[3].layers  # the empty memory routes nowhere


def test_a_head_with_int8_one_row_forwards_reads_each_question_alone(checkpoint, tmp_path):
    """With int8 decoding (bf16 on the CPU with a reader), a lone prefill's last row goes through the head's int8
    copy; packed questions' rows must too, or the first token depends on whether a question was packed."""
    model = MSAModel.from_pretrained(reader_checkpoint(checkpoint("qwen3", dtype="bfloat16"), tmp_path),
                                     dtype="auto")
    assert isinstance(model.transformer.lm_head, OneTokenInt8)
    docs = model.encode_documents(FACTS)
    requests = [PrefillRequest(model._request(q), Memory(docs)) for q in QUESTIONS]
    for r, outcome in zip(requests, model._prefill_requests(requests, "clean", 2), strict=True):
        want = model._prefill(r.tokens, r.memory, "clean", 2, inject=True)[1]
        assert rel_err(outcome.get()[1], want) < 1e-3  # the dense head's rows differ by ~6e-3


class SlowMemory(Memory):
    """Holds its first routing call until released, so that other questions arrive during it."""

    def __init__(self, docs, gate: threading.Event | None = None, fail: bool = False) -> None:
        super().__init__(docs)
        self.gate, self.fail = gate, fail

    def route(self, queries, spec, k):
        if self.fail:
            raise RuntimeError("this memory cannot route")
        if self.gate is not None:
            self.gate.wait(10)
        return super().route(queries, spec, k)


def test_concurrent_questions_are_packed_and_answer_as_alone(checkpoint):
    """While one question's prefill runs, three more arrive: they go in one packed forward, and every answer is
    the one it gets alone."""
    model = MSAModel.from_pretrained(checkpoint("qwen3"), device="cpu")
    docs = model.encode_documents(FACTS)
    kw = dict(max_new_tokens=12, top_k=2, mode="clean")
    questions = [*QUESTIONS, "Who plays the cello?"]
    alone = [model.generate(q, Memory(docs), **kw).text for q in questions]
    calls_before = model.prefill_batcher.calls
    gate = threading.Event()
    first = SlowMemory(docs, gate)
    with ThreadPoolExecutor(4) as pool:
        held = pool.submit(lambda: model.generate(questions[0], first, **kw).text)
        wait_until(lambda: model.prefill_batcher.busy)
        others = [pool.submit(lambda q=q: model.generate(q, Memory(docs), **kw).text) for q in questions[1:]]
        wait_until(lambda: len(model.prefill_batcher.waiting) == 3)
        gate.set()
        together = [held.result(), *(f.result() for f in others)]
    assert together == alone
    assert model.prefill_batcher.calls - calls_before == 2  # the held one, then the three together
    assert model.prefill_batcher.questions - len(questions) == len(questions)


def test_a_failing_or_cancelled_question_fails_alone(checkpoint, caplog):
    """The failing question is dropped from the packed forward and the others go again together."""
    model = MSAModel.from_pretrained(checkpoint("qwen3"), device="cpu")
    docs = model.encode_documents(FACTS)
    requests = [PrefillRequest(model._request(QUESTIONS[0]), Memory(docs)),
                PrefillRequest(model._request(QUESTIONS[1]), SlowMemory(docs, fail=True)),
                PrefillRequest(model._request(QUESTIONS[2]), Memory(docs), cancelled=lambda: True),
                PrefillRequest(model._request(QUESTIONS[2]), Memory(docs))]
    got = model._prefill_requests(requests, "clean", 2)
    assert SHARED_FAILED not in caplog.text
    with pytest.raises(RuntimeError, match="cannot route"):
        got[1].get()
    with pytest.raises(Cancelled):
        got[2].get()
    for i in (0, 3):
        want = model._prefill(requests[i].tokens, requests[i].memory, "clean", 2, inject=True)[1]
        assert rel_err(got[i].get()[1], want) < 1e-5


def test_packed_forwards_hold_at_most_a_budget_of_tokens():
    """Prompts of 4, 4, 4, 12 and 1 tokens under a budget of 10: the first two together, the rest alone."""
    requests = [PrefillRequest(QuestionTokens(list(range(n)), [True] * n), None) for n in (4, 4, 4, 12, 1)]
    calls = []

    def together(rs):
        calls.append([len(r.tokens.ids) for r in rs])
        return [len(r.tokens.ids) for r in rs]

    got = prefill_each(requests, lambda r: calls.append(len(r.tokens.ids)) or -1, together, budget=10)
    assert calls == [[4, 4], 4, 12, 1]
    assert [o.get() for o in got] == [4, 4, -1, -1, -1]


def wait_until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition never came"
        time.sleep(0.001)
