"""Answers decoded together in one batch (`model/decode_batch.py`) give the logits and answers of answers decoded
alone; seats are left however an answer ends; a full batch or a failed step never hangs an answer. On the CPU
(eager steps) and on a GPU (steps replayed from graphs)."""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from msa.model import decode_batch
from msa.model.api import MSAModel
from msa.model.decoder import CachedMixer
from msa.model.memory import Memory
from tests.conftest import rel_err

FACTS = ["Rex is a dog who lives in Paris.", "Anna works at a bakery in Lyon. " * 5, "The river Sena flows north.",
         "Bob keeps bees on the roof of the school. " * 9]
QUESTIONS = ["Where does Rex live?", "Who keeps bees on the roof?", "Where is the bakery?", "Which way does it flow?"]
KW = dict(max_new_tokens=20, top_k=2, mode="clean")


@pytest.fixture
def batching(monkeypatch):
    monkeypatch.setenv("MSA_BATCH_DECODE", "1")


def loaded(checkpoint, device: str) -> tuple[MSAModel, Memory]:
    model = MSAModel.from_pretrained(checkpoint("qwen3"), device=device)
    return model, Memory(model.encode_documents(FACTS))


def batches(model: MSAModel) -> list[decode_batch.DecodeBatch]:
    return list(model.transformer.__dict__["_decode_batches"].batches.values())


@pytest.mark.parametrize("read_mode", ["kv", "text"])
@pytest.mark.parametrize("kernels", ["masked sdpa", "fused"])
def test_seats_of_one_batch_step_to_the_logits_of_eager_decoding(checkpoint, device, read_mode, kernels,
                                                                monkeypatch):
    """Two answers (other prompt lengths, other memory rows) in slots 0 and 2 of a batch of three, slot 1 left
    idle (it was taken and given back), decoded together by the worker with tokens forced through each answer's
    chooser, against each one's own eager steps on those tokens: 70 steps (past a
    64-row block), 12 where the fused kernel runs under the Triton interpreter (text prompts are past a block
    already); with the masked SDPA and with the fused kernel, whatever the device."""
    if kernels == "fused" and device == "cpu" and os.environ.get("TRITON_INTERPRET") != "1":
        pytest.skip("the fused kernel runs on the CPU only under the Triton interpreter")
    monkeypatch.setattr(decode_batch, "fused_kernel", lambda q: kernels == "fused")
    model, memory = loaded(checkpoint, device)
    steps = 12 if kernels == "fused" and device == "cpu" else 70
    tokens = torch.randint(0, model.config.vocab_size, (steps,), generator=torch.Generator().manual_seed(1)).tolist()
    prompts = []
    for question in QUESTIONS[:3]:
        if read_mode == "kv":
            cache, _, position, _, _ = model._prefill(model._request(question), memory, "clean", 2, inject=True)
            scope = model.routing
        else:
            cache, _, position = model._read_prefill(question, [(0, FACTS[0]), (3, FACTS[3])])
            scope = model.reading
        prompts.append((cache, position))
    longest = max(prompts, key=lambda p: p[0].length(0))[0]
    batch = decode_batch.DecodeBatch(model.transformer, *decode_batch._shape(longest, len(tokens)), 3, scope)
    seats = [batch.join(cache) for cache, _ in prompts]
    batch.leave(seats.pop(1))
    del prompts[1]
    assert [seat.slot for seat in seats] == [0, 2]
    seen: list[list[torch.Tensor]] = [[], []]  # each answer's logits, as its worker-side chooser gets them

    def forcing(answer: int):
        def choose(logits: torch.Tensor) -> int:
            seen[answer].append(logits)
            return tokens[min(len(seen[answer]) - 1, steps - 1)]  # the prompt's logits choose the first token
        return choose

    try:
        for answer, (seat, (_, position)) in enumerate(zip(seats, prompts, strict=True)):
            seat.begin(torch.zeros(model.config.vocab_size), position, steps + 1, set(), forcing(answer))
        for seat in seats:
            assert list(seat.tokens()) == [*tokens, tokens[-1], "length"]
        assert batch.steps < 2 * steps  # the answers shared steps
    finally:
        for seat in seats:
            batch.leave(seat)
    for (cache, position), logits in zip(prompts, seen, strict=True):
        assert len(logits) == steps + 1
        mixer = CachedMixer(cache)
        for i, token in enumerate(tokens):
            with scope():
                want = model.transformer(torch.tensor([token], device=device),
                                         torch.tensor([position + i], device=device), mixer)[-1]
            assert rel_err(logits[i + 1], want) <= 1e-5, i


def test_answers_decoded_together_are_those_decoded_alone(checkpoint, device, batching, monkeypatch):
    model, memory = loaded(checkpoint, device)
    alone = [model.generate(q, memory, read_mode=m, **KW).token_ids for m in ("kv", "text") for q in QUESTIONS]
    steps_alone = sum(b.steps for b in batches(model))
    asked = [(q, m) for m in ("kv", "text") for q in QUESTIONS] * 2
    with ThreadPoolExecutor(len(asked)) as pool:
        together = list(pool.map(lambda qm: model.generate(qm[0], memory, read_mode=qm[1], **KW).token_ids, asked))
    assert together == alone * 2
    assert sum(b.steps for b in batches(model)) - steps_alone < sum(len(t) for t in together) - len(together)
    assert all(not b.seats for b in batches(model))
    monkeypatch.setenv("MSA_BATCH_DECODE", "0")  # and those of the path without batches
    assert [model.generate(q, memory, read_mode=m, **KW).token_ids for m in ("kv", "text") for q in QUESTIONS] == alone


def test_a_full_batch_sends_the_next_answer_down_the_solo_path(checkpoint, device, batching, monkeypatch):
    model, memory = loaded(checkpoint, device)
    alone = [model.generate(q, memory, **KW).token_ids for q in QUESTIONS]
    monkeypatch.setattr(decode_batch, "MAX_SLOTS", 1)
    model.transformer.__dict__.pop("_decode_batches")
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(lambda q: model.generate(q, memory, **KW).token_ids, QUESTIONS * 2)) == alone * 2
    assert [b.slots for b in batches(model)] == [1]


def test_the_worker_keeps_no_autograd_history(checkpoint, device, batching):
    """Grad mode is per thread: the caller's no_grad does not reach the worker, which must turn it off itself."""
    model, memory = loaded(checkpoint, device)
    model.transformer.layers[0].self_attn.k_proj.weight.requires_grad_(True)
    model.generate(QUESTIONS[0], memory, **KW)
    (batch,) = batches(model)
    assert not any(t.requires_grad for t in batch.k + batch.v)


def test_a_reader_that_stops_early_gives_its_seat_back(checkpoint, device, batching):
    model, memory = loaded(checkpoint, device)
    stream = model.stream(QUESTIONS[0], memory, **KW)
    for _ in range(4):  # the retrieval and a few tokens
        next(stream)
    (batch,) = batches(model)
    assert len(batch.seats) == 1
    stream.close()
    assert not batch.seats
    assert model.generate(QUESTIONS[1], memory, **KW).token_ids


def test_a_failed_step_fails_its_answers_and_the_batch_goes_on(checkpoint, device, batching, monkeypatch):
    model, memory = loaded(checkpoint, device)
    want = model.generate(QUESTIONS[0], memory, **KW).token_ids
    (batch,) = batches(model)
    real, failed = decode_batch.DecodeBatch._step, threading.Event()

    def once_broken(self, ready):
        if not failed.is_set():
            failed.set()
            raise RuntimeError("device lost")
        return real(self, ready)

    monkeypatch.setattr(decode_batch.DecodeBatch, "_step", once_broken)
    with pytest.raises(RuntimeError, match="batched decoding step failed"):
        model.generate(QUESTIONS[0], memory, **KW)
    assert not batch.seats
    assert model.generate(QUESTIONS[0], memory, **KW).token_ids == want


def test_a_worker_that_dies_fails_its_answers_and_the_next_step_starts_another(checkpoint, device, batching,
                                                                             monkeypatch):
    model, memory = loaded(checkpoint, device)
    want = model.generate(QUESTIONS[0], memory, **KW).token_ids
    real, died = decode_batch.DecodeBatch._gather, threading.Event()

    def dying(self):
        if not died.is_set():
            died.set()
            raise MemoryError("worker lost")
        return real(self)

    monkeypatch.setattr(decode_batch.DecodeBatch, "_gather", dying)
    with pytest.raises(RuntimeError, match="batched decoding step failed"):
        model.generate(QUESTIONS[0], memory, **KW)
    assert model.generate(QUESTIONS[0], memory, **KW).token_ids == want


def test_the_worker_decodes_an_answer_whose_reader_is_slow(checkpoint, device, batching):
    """No step waits for an answer's thread: an answer whose reader has taken one token is decoded to its end
    while another answer runs, and its tokens wait in its queue, the same as when read at once."""
    model, memory = loaded(checkpoint, device)
    want = model.generate(QUESTIONS[0], memory, **KW).token_ids
    stream = model.stream(QUESTIONS[0], memory, **KW)
    next(stream), next(stream)  # the retrieval and the first token
    (batch,) = batches(model)
    (seat,) = batch.seats.values()
    model.generate(QUESTIONS[1], memory, **KW)
    deadline = time.monotonic() + 30
    while seat.decoding:
        assert time.monotonic() < deadline, "the unread answer was not decoded"
        time.sleep(0.01)
    rest = [item.id for item in stream if hasattr(item, "id")]
    assert len(rest) + 1 == len(want) and not batch.seats


def test_sampled_answers_in_a_batch_are_those_sampled_alone(checkpoint, device, batching, monkeypatch):
    """Each answer's own seeded sampler runs on the worker: the same draws as decoding alone."""
    model, memory = loaded(checkpoint, device)
    kw = dict(KW, temperature=0.9, top_p=0.95)
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda s: model.generate(QUESTIONS[s % 4], memory, seed=s, **kw).token_ids,
                                 range(8)))
    monkeypatch.setenv("MSA_BATCH_DECODE", "0")
    assert together == [model.generate(QUESTIONS[s % 4], memory, seed=s, **kw).token_ids for s in range(8)]
