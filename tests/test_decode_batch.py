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


@pytest.fixture(autouse=True)
def short_timeout(monkeypatch):
    """A regression that leaves an answer waiting fails in seconds, not after the 600 s of production."""
    monkeypatch.setattr(decode_batch, "STEP_TIMEOUT_S", 30.0)


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
    wait_until(lambda: not batch.seats)  # at once, or when the step running with it ends
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
    next(stream)  # the retrieval
    first = next(stream)
    (batch,) = batches(model)
    (seat,) = batch.seats.values()
    model.generate(QUESTIONS[1], memory, **KW)
    wait_until(lambda: not seat.decoding)
    rest = [item.id for item in stream if hasattr(item, "id")]
    assert [first.id, *rest] == want and not batch.seats


def test_sampled_and_greedy_answers_in_a_batch_are_those_decoded_alone(checkpoint, device, batching, monkeypatch):
    """Each answer's own seeded sampler runs on the worker, beside greedy answers in the same steps: the same
    tokens as decoding alone."""
    model, memory = loaded(checkpoint, device)
    options = [dict(KW, seed=s, **({"temperature": 0.9, "top_p": 0.95} if s % 2 else {})) for s in range(8)]
    with ThreadPoolExecutor(8) as pool:  # each question asked greedily (even s) and sampled (odd s)
        together = list(pool.map(lambda s: model.generate(QUESTIONS[s // 2], memory, **options[s]).token_ids,
                                 range(8)))
    assert sum(b.steps for b in batches(model)) > 0
    assert any(together[s] != together[s + 1] for s in range(0, 8, 2))  # the samplers did sample
    monkeypatch.setenv("MSA_BATCH_DECODE", "0")
    assert together == [model.generate(QUESTIONS[s // 2], memory, **options[s]).token_ids for s in range(8)]


def wait_until(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition never came"
        time.sleep(0.01)


def begun(model: MSAModel, memory: Memory, question: str, steps: int, choose=None, stop_ids=frozenset()):
    """A seat of a batch of two slots, begun after `question`'s kv prompt -> (batch, seat)."""
    cache, logits, position, _, _ = model._prefill(model._request(question), memory, "clean", 2, inject=True)
    batch = decode_batch.DecodeBatch(model.transformer, *decode_batch._shape(cache, steps), 2, model.routing)
    seat = batch.join(cache)
    seat.begin(logits, position, steps + 1, set(stop_ids), choose)
    return batch, seat


def test_a_seat_left_during_a_step_gives_its_slot_back_when_the_step_ends(checkpoint, device, monkeypatch):
    """Leaving does not wait for the step running with the seat, and its slot is not handed out before the step
    has written its row."""
    model, memory = loaded(checkpoint, device)
    entered, release = threading.Event(), threading.Event()
    real = decode_batch.DecodeBatch._step

    def held(self, fed):
        entered.set()
        assert release.wait(30)
        return real(self, fed)

    monkeypatch.setattr(decode_batch.DecodeBatch, "_step", held)
    batch, seat = begun(model, memory, QUESTIONS[0], 8)
    assert entered.wait(30)
    start = time.monotonic()
    batch.leave(seat)
    assert time.monotonic() - start < 1  # at once, while the step still runs
    assert seat.slot in batch.seats and batch.reserve(1).slot == 1  # slot 0 stays out of use meanwhile
    release.set()
    wait_until(lambda: 0 not in batch.seats)
    assert batch.reserve(1).slot == 0


def test_a_failing_sampler_ends_its_own_answer_only(checkpoint, device, batching):
    """Two answers in the same steps; one's sampler fails at its third token: that answer ends with the error, the
    other decodes on to the tokens it gets alone."""
    model, memory = loaded(checkpoint, device)
    want = model.generate(QUESTIONS[0], memory, **dict(KW, max_new_tokens=9)).token_ids
    calls = []

    def failing(logits):
        calls.append(1)
        if len(calls) > 2:
            raise ValueError("no token")
        return int(torch.argmax(logits))

    cache, logits, position, _, _ = model._prefill(model._request(QUESTIONS[0]), memory, "clean", 2, inject=True)
    batch, fine = begun(model, memory, QUESTIONS[0], 8)  # greedy, no stop tokens: 9 tokens
    broken = batch.join(cache)
    broken.begin(logits, position, 9, set(), failing)
    with pytest.raises(RuntimeError, match="batched decoding step failed"):
        list(broken.tokens())
    got = list(fine.tokens())
    assert got[-1] == "length" and len(got) == 10 and got[:len(want)] == want
    assert len(calls) == 3 and fine.produced == 9  # it failed in a step, and the other answer went on
    batch.leave(broken)
    batch.leave(fine)


def test_a_stop_token_first_ends_the_answer_without_a_step(checkpoint, device):
    model, memory = loaded(checkpoint, device)
    batch, seat = begun(model, memory, QUESTIONS[0], 8, lambda logits: 7, stop_ids={7})
    assert list(seat.tokens()) == ["stop"] and batch.steps == 0
    batch.leave(seat)
    assert not batch.seats
