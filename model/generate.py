"""Decoding: greedy or temperature / top-p sampling with a seed, stop tokens, streamed text."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field

import torch
from torch import Tensor

from msa.model.decode_batch import batching_wanted, seat_for
from msa.model.decode_graph import graph_for, graphs_wanted
from msa.model.decoder import CachedMixer, KVCache, Transformer
from msa.model.prompts import ANSWER_MARKER, extracted_answer
from msa.model.routing import Routing
from msa.model.tokenizer import Tokenizer


@dataclass(frozen=True)
class Sampling:
    max_new_tokens: int = 256
    temperature: float = 0.0  # 0 = greedy argmax
    top_p: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.max_new_tokens < 0:
            raise ValueError(f"max_new_tokens must be >= 0, got {self.max_new_tokens}")
        if not math.isfinite(self.temperature) or self.temperature < 0:
            raise ValueError(f"temperature must be a finite number >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")


def next_token(logits: Tensor, sampling: Sampling, generator: torch.Generator) -> int:
    """logits [V] fp32 -> token id: argmax, or a draw from the top-p nucleus of softmax(logits / T)."""
    if sampling.temperature == 0:
        return int(torch.argmax(logits))
    logits = logits.double().cpu()
    # shifted so the best is 0: a tiny temperature tends to argmax instead of overflowing into nan
    probs = torch.softmax((logits - logits.max()) / sampling.temperature, dim=-1)
    sorted_probs, order = torch.sort(probs, descending=True)
    keep = torch.cumsum(sorted_probs, 0) - sorted_probs < sampling.top_p  # smallest set reaching top_p
    sorted_probs = sorted_probs * keep
    choice = torch.multinomial(sorted_probs / sorted_probs.sum(), 1, generator=generator)
    return int(order[choice])


class TextStream:
    """Turns token ids into text pieces whose concatenation equals decoding all ids at once.

    A piece that would end inside a multi-byte character (decoded as U+FFFD) is held back until the
    character completes.
    """

    def __init__(self, tok: Tokenizer) -> None:
        self.tok, self.ids, self.emitted = tok, [], ""

    def push(self, token_id: int) -> str:
        self.ids.append(token_id)
        text = self.tok.decode(self.ids)
        if text.endswith("\ufffd") or not text.startswith(self.emitted):
            return ""
        piece, self.emitted = text[len(self.emitted):], text
        return piece

    def flush(self) -> str:
        text = self.tok.decode(self.ids)
        piece, self.emitted = text[len(self.emitted):], text
        return piece


@dataclass(frozen=True)
class Retrieved:
    """Streamed once a round's prompt is prefilled, before its first token: what that round reads."""

    routing: Routing
    documents: list[int]  # numbers of the documents read (as in `GenerationResult.documents`)
    read_mode: str  # "kv" or "text"
    round: int = 1
    seconds: float = 0.0  # the round's retrieval: its routed prefill (several rounds only)


@dataclass(frozen=True)
class RoundRead:
    """One round of Memory Interleave: what its routing read and which documents' text it asked for."""

    round: int
    routing: Routing
    read: list[int]  # numbers whose compressed K/V (kv) or text (text reading) the round read
    requested: list[int]  # numbers the model asked for, whose original text ends the round
    seconds: float = 0.0  # its routed prefill


@dataclass(frozen=True)
class Token:
    """A streamed token and the text it completed (may be empty while a character is incomplete)."""

    id: int
    text: str


@dataclass(frozen=True)
class GenerationResult:
    text: str
    token_ids: list[int]
    routing: Routing
    read_mode: str  # "kv" or "text"
    documents: list[int]  # numbers of the documents read: text mode in prompt order, kv mode ascending
    stop_reason: str  # "stop" (a stop token) or "length" (max_new_tokens)
    prompt_tokens: int
    rounds: list[RoundRead] = field(default_factory=list)  # Memory Interleave's rounds, in order

    @property
    def answer(self) -> str:
        """The reply without Memory Interleave's protocol: after rounds, what follows `The answer to the question
        is:` when the model wrote it (spec 6.3); else the text as generated."""
        return extracted_answer(self.text) if self.rounds and ANSWER_MARKER in self.text else self.text


def decode(model: Transformer, cache: KVCache, logits: Tensor, position: int, sampling: Sampling,
           stop_ids: set[int], scope: Callable[[], AbstractContextManager] = nullcontext) -> Iterator[int | str]:
    """Yield sampled token ids, then the stop reason. `logits` [V] follow the prompt at `position` - 1;
    every forward runs inside `scope()` (the reader adapter while reading). With `MSA_BATCH_DECODE=1` the steps
    are shared with other answers decoding at the same time (`decode_batch`, whose worker chooses the tokens);
    else on a GPU they replay a CUDA graph (`decode_graph`). Either way `cache` then keeps the prompt's K/V only."""
    steps = sampling.max_new_tokens - 1  # forwards: the last token is not fed back
    if batching_wanted(model, cache, steps):
        reason = None
        with seat_for(model, cache, steps, scope) as seat:
            if seat is not None:
                generator = torch.Generator().manual_seed(sampling.seed)
                choose = None if sampling.temperature == 0 else lambda lg: next_token(lg, sampling, generator)
                seat.begin(logits, position, sampling.max_new_tokens, stop_ids, choose)
                for item in seat.tokens():
                    if isinstance(item, str):  # the stop reason: the seat goes back before it is read
                        reason = item
                        break
                    yield item
        if reason is not None:
            yield reason
            return
    if graphs_wanted(model, cache, steps):
        with graph_for(model, cache, steps, scope) as graph:
            yield from _sampled(logits, sampling, stop_ids, lambda tid, step: graph.step(tid, position + step, step))
        return
    device = model.embed_tokens.weight.device
    mixer = CachedMixer(cache)

    def forward(tid: int, step: int) -> Tensor:
        with scope():
            return model(torch.tensor([tid], device=device), torch.tensor([position + step], device=device),
                         mixer)[-1]

    yield from _sampled(logits, sampling, stop_ids, forward)


def _sampled(logits: Tensor, sampling: Sampling, stop_ids: set[int], forward: Callable[[int, int], Tensor]
             ) -> Iterator[int | str]:
    """Sample a token from `logits`, yield it, feed it back with `forward(token, step)` for the next, and so on."""
    generator = torch.Generator().manual_seed(sampling.seed)
    for step in range(sampling.max_new_tokens):
        tid = next_token(logits, sampling, generator)
        if tid in stop_ids:
            yield "stop"
            return
        yield tid
        if step + 1 < sampling.max_new_tokens:
            logits = forward(tid, step)
    yield "length"
