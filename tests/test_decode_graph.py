"""Decoding steps replayed from a CUDA graph give the eager steps' logits and answers (GPU only)."""

from __future__ import annotations

import contextlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from msa.model import decode_graph
from msa.model.api import MSAModel
from msa.model.decoder import CachedMixer
from msa.model.memory import Memory
from tests.conftest import rel_err

pytestmark = pytest.mark.gpu


@pytest.fixture(autouse=True)
def graphs_by_default(monkeypatch):
    monkeypatch.delenv("MSA_CUDA_GRAPHS", raising=False)


FACTS = ["Rex is a dog who lives in Paris.", "Anna works at a bakery in Lyon. " * 5, "The river Sena flows north.",
         "Bob keeps bees on the roof of the school. " * 9]
TOL = {"float32": 1e-5, "bfloat16": 3e-2}
decode_graph_step_graph = decode_graph.StepGraph


def prompt(model: MSAModel, memory: Memory, read_mode: str, question: str):
    """(cache, position, scope) after a question's prompt, as `stream` leaves them before decoding."""
    if read_mode == "kv":
        cache, _, position, _, _ = model._prefill(model._request(question), memory, "clean", 2, inject=True)
        assert any(m is not None and m.rows.numel() for m in cache.memory)  # memory rows are read
        return cache, position, model.routing
    notes = [(0, FACTS[0]), (3, FACTS[3])] if "Rex" in question else [(1, FACTS[1])]
    cache, _, position = model._read_prefill(question, notes)
    return cache, position, model.reading


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("read_mode", ["kv", "text"])
def test_replayed_steps_give_the_eager_logits_answer_after_answer(checkpoint, dtype, read_mode):
    """The second question (another prompt length; in kv reading other memory rows) replays the graph the first
    captured: its buffers round to the same shape (text reading: 350 and 353 prompt tokens, 448 rows)."""
    model = MSAModel.from_pretrained(checkpoint("qwen3", dtype=dtype), device="cuda", dtype=dtype)
    memory = Memory(model.encode_documents(FACTS))
    tokens = torch.randint(0, model.config.vocab_size, (70,), generator=torch.Generator().manual_seed(1)).tolist()
    used = []
    second = {"kv": "Who keeps bees on the roof of the school, and why?", "text": "Where does Rex live, and how?"}
    for question in ("Where does Rex live?", second[read_mode]):
        cache, position, scope = prompt(model, memory, read_mode, question)
        with decode_graph.graph_for(model.transformer, cache, len(tokens), scope) as graph:  # copies the cache
            used.append(graph)
            eager = CachedMixer(cache)
            for i, token in enumerate(tokens):  # 70 steps: past a 64-key block of the local cache
                got = graph.step(token, position + i, i).clone()
                with scope():
                    want = model.transformer(torch.tensor([token], device="cuda"),
                                             torch.tensor([position + i], device="cuda"), eager)[-1]
                assert rel_err(got, want) <= TOL[dtype], (question, i)
    assert used[0] is used[1] and used[1].run.graph is not None


def test_answers_are_those_of_eager_decoding(checkpoint, monkeypatch):
    model = MSAModel.from_pretrained(checkpoint("qwen3"), device="cuda")
    memory = Memory(model.encode_documents(FACTS))
    made = []
    monkeypatch.setattr(decode_graph, "StepGraph", lambda *a: made.append(a) or decode_graph_step_graph(*a))
    kw = dict(max_new_tokens=24, top_k=2, mode="clean")
    questions = ["Where does Rex live?", "Where is the bakery?"]
    graphed = [model.generate(q, memory, read_mode=m, **kw).token_ids for m in ("kv", "text") for q in questions]
    assert len(made) == 2  # one graph per read mode (their weights and memory layers differ), reused
    monkeypatch.setenv("MSA_CUDA_GRAPHS", "0")
    eager = [model.generate(q, memory, read_mode=m, **kw).token_ids for m in ("kv", "text") for q in questions]
    assert len(made) == 2 and graphed == eager
    monkeypatch.delenv("MSA_CUDA_GRAPHS")
    monkeypatch.setattr(decode_graph, "MAX_GRAPH_BYTES", 1000)  # buffers over the cap: eager decoding
    assert [model.generate(q, memory, read_mode="kv", **kw).token_ids for q in questions] == eager[:2]
    assert len(made) == 2


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


def test_a_reader_that_stops_early_leaves_the_graph_for_the_next_answer(checkpoint, monkeypatch):
    model = MSAModel.from_pretrained(checkpoint("qwen3"), device="cuda")
    memory = Memory(model.encode_documents(FACTS))
    made = []
    monkeypatch.setattr(decode_graph, "StepGraph", lambda *a: made.append(a) or decode_graph_step_graph(*a))
    kw = dict(max_new_tokens=24, top_k=2, mode="clean", read_mode="kv")
    stream = model.stream("Where does Rex live?", memory, **kw)
    for _ in range(6):  # the retrieval and a few tokens, past the capture
        next(stream)
    stream.close()
    model.generate("Where is the bakery?", memory, **kw)
    assert len(made) == 1


def test_a_failed_capture_finishes_its_answer_eagerly_and_is_not_kept(checkpoint, monkeypatch):
    model = MSAModel.from_pretrained(checkpoint("qwen3"), device="cuda")
    memory = Memory(model.encode_documents(FACTS))
    kw = dict(max_new_tokens=24, top_k=2, mode="clean", read_mode="kv")
    monkeypatch.setenv("MSA_CUDA_GRAPHS", "0")
    eager = model.generate("Where does Rex live?", memory, **kw).token_ids
    monkeypatch.delenv("MSA_CUDA_GRAPHS")
    monkeypatch.setattr(decode_graph.CapturedForward, "_capture", lambda self: setattr(self, "broken", True))
    assert model.generate("Where does Rex live?", memory, **kw).token_ids == eager
    assert model.transformer.__dict__["_step_graphs"].idle == []


def test_a_thread_new_to_cublas_runs_eagerly_before_it_captures():
    """A batch's worker thread may change between a forward's first call and its second: a thread that has no cuBLAS
    handle cannot make one inside a capture, so it runs the forward eagerly before capturing it. Threads that
    hold handles meanwhile drain PyTorch's pool of handles that exited threads left behind."""
    x, w = torch.randn(8, 64, device="cuda"), torch.randn(64, 64, device="cuda")
    want = x @ w
    captured = decode_graph.CapturedForward(lambda: x @ w, x.device, contextlib.nullcontext)
    release, results = threading.Event(), []

    def hold(call: bool) -> None:
        torch.cuda.current_blas_handle()  # this thread's handle, kept until it exits
        if call:
            results.append(captured())  # the forward's first call, eager
        release.wait(30)

    holders = [threading.Thread(target=hold, args=(i == 63,)) for i in range(64)]
    for t in holders:
        t.start()
    deadline = time.monotonic() + 30
    while not results:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    later = threading.Thread(target=lambda: results.extend(captured().clone() for _ in range(3)))  # a new thread
    later.start()
    later.join(30)
    release.set()
    for t in holders:
        t.join(30)
    assert len(results) == 4  # the first call and the new thread's three
    assert not captured.broken and captured.graph is not None
    assert all(torch.allclose(r, want) for r in results)
