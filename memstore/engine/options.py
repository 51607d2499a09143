"""The engine's limits and a question's options, checked by one set of rules (those the model itself
enforces, raised as `InvalidArgument` before any work) whoever asks: the servicer, the CLI, a benchmark."""

from __future__ import annotations

import math
from dataclasses import dataclass

from msa.memstore.errors import InvalidArgument
from msa.model.config import READ_MODES

MAX_TOP_K = 64
MAX_QUESTION_TOKENS = 1024
MAX_NEW_TOKENS = 4096
MAX_WRITE_DOCUMENTS = 1000  # per Write (its encoding is one request's work) and per Delete
MAX_WRITE_BYTES = 4 << 20  # text bytes per Write
QUESTION_PROMPT_TOKENS = 64  # the question's template, routing instruction and text-reading frame, at most
RETRIEVE_TOP_K = 8  # documents a Retrieve returns unless told
MAX_ROUNDS = 4  # retrieval rounds of one question (Memory Interleave): each costs a routed prefill


def check_top_k(top_k: int) -> None:
    if not 1 <= top_k <= MAX_TOP_K:
        raise InvalidArgument(f"top_k must be in [1, {MAX_TOP_K}], got {top_k}")


@dataclass(frozen=True)
class QueryOptions:
    """How a question is answered; checked on construction. None: the model's own setting (its
    `doc_top_k`, its read mode)."""

    top_k: int | None = None
    read_mode: str | None = None
    max_new_tokens: int = 256
    temperature: float = 0.0  # 0 = greedy
    top_p: float = 1.0
    seed: int = 0
    interleave_rounds: int = 1  # retrieval rounds; 0 = 1

    def __post_init__(self) -> None:
        if not 0 <= self.interleave_rounds <= MAX_ROUNDS:
            raise InvalidArgument(f"interleave_rounds must be in [0, {MAX_ROUNDS}], got {self.interleave_rounds}")
        if not 0 <= self.max_new_tokens <= MAX_NEW_TOKENS:
            raise InvalidArgument(f"max_new_tokens must be in [0, {MAX_NEW_TOKENS}], got {self.max_new_tokens}")
        if not (math.isfinite(self.temperature) and self.temperature >= 0):
            raise InvalidArgument(f"temperature must be a finite number >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise InvalidArgument(f"top_p must be in (0, 1], got {self.top_p}")
        if self.read_mode is not None and self.read_mode not in READ_MODES:
            raise InvalidArgument(f"read_mode must be kv or text, got {self.read_mode!r}")
        if self.top_k is not None:
            check_top_k(self.top_k)

    def generation(self) -> dict:
        """The keyword arguments of `MSAModel.stream` these options set."""
        return dict(top_k=self.top_k, read_mode=self.read_mode, max_new_tokens=self.max_new_tokens,
                    temperature=self.temperature, top_p=self.top_p, seed=self.seed,
                    rounds=max(1, self.interleave_rounds))
