"""Memory Interleave, one call (MSA_SPEC.md 6.2): decode a routed prompt until the model ends a retrieval
round or answers.

The model writes the numbers of the documents it needs (`[4]`) and ends the round with `<|object_ref_end|>`:
the call then feeds that last token, appends the requested documents' text (`[4]. text\\n...<|object_ref_end|>`)
without a forward, and returns; the next round is a fresh routed prefill of the accumulated text
(`prompts.regenerate_tokens`). Once the model writes `<End-of-Retrieve>` (or 1,000 characters without ending
a round), the call feeds the last token, then the question again (`prompts.injected_question`) as one
multi-token step whose tokens see each other both ways (the reference's generate-stage mask), and decodes
the answer. One request at a time, so none of the reference's batch coupling (paused rows' discarded tokens
in their strings) exists here; its dead paths (later rounds inside one call) are not reproduced.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch
from torch import Tensor

from msa.model.decoder import Attention, CachedMixer, Rope, attend
from msa.model.prompts import (
    END_OF_RETRIEVE,
    ROUND_END,
    asked_question,
    injected_documents,
    injected_question,
    requested_documents,
)

MAX_RETRIEVAL_CHARS = 1000  # a call that writes more before any injection stops retrieving (the reference's)
MAX_INJECTED_TOKENS = 2048  # documents' text one round appends at most (the next prompt grows by that much)


@dataclass
class CallEnd:
    """How a call ended. "round": it asked for `documents`, whose text (`injected`) was appended, to be
    continued by a fresh routed prefill; "stop" / "length": it answered (a stop token / the step cap)."""

    reason: str
    generated: list[int] = field(default_factory=list)  # ids the model wrote, in order
    injected: list[int] = field(default_factory=list)  # ids appended after them (documents or question)
    documents: list[int] = field(default_factory=list)  # the numbers the round's injection carries


class BothWaysMixer(CachedMixer):
    """A segment fed in one step whose tokens attend to the whole cache, the memory rows and every token of the
    segment, later ones included (the reference's [B, H, 1, kv] mask broadcast over the segment, spec 4)."""

    def __call__(self, layer: int, attn: Attention, h: Tensor, rope: Rope) -> Tensor:
        q, k, v = attn.project(h, rope)
        k_all, v_all = self.cache.extend(layer, k, v)
        memory = self.cache.memory[layer]
        if memory is not None and memory.rows.numel():
            mk, mv = memory.gather()
            k_all, v_all = torch.cat([mk.to(k_all.dtype), k_all]), torch.cat([mv.to(v_all.dtype), v_all])
        everything = torch.ones(q.shape[0], k_all.shape[0], dtype=torch.bool, device=q.device)
        return attend(q, k_all, v_all, attn.scale, everything)


@dataclass(frozen=True)
class CallModel:
    """What a call needs of the model: `forward` feeds ids after the cache (both ways: as one segment whose
    tokens see each other) -> the last token's logits [V]; `choose` picks the next token; `documents` maps
    requested numbers to their text (absent ones left out, as the reference leaves out ids not in its corpus)."""

    forward: Callable[[list[int], bool], Tensor]
    choose: Callable[[Tensor], int]
    decode: Callable[[list[int]], str]
    encode: Callable[[str], list[int]]
    documents: Callable[[list[int]], dict[int, str]]
    stop_ids: set[int]


def interleave_call(model: CallModel, logits: Tensor, prompt_text: str, max_steps: int, last_round: bool = False
                    ) -> Iterator[int | CallEnd]:
    """Decode one call from the prompt's last logits; yield each token id the model writes, then the `CallEnd`.

    `prompt_text`: the prompt as decoded (where the question is found); `max_steps` caps the forwards after
    the prefill. `last_round`: a round end is taken as the end of retrieval (the question is fed and the
    model answers) instead of asking for documents that no further round would read."""
    fed, response, inner = prompt_text, "", ""  # the reference's all_input_str, response_string, inner_string
    end = CallEnd("length")
    answering = False
    for _ in range(max_steps):
        tid = model.choose(logits)
        if tid in model.stop_ids:
            end.reason = "stop"
            break
        end.generated.append(tid)
        yield tid
        logits = model.forward([tid], False)  # also the last token of a round: fed before any injection
        if answering:
            continue
        piece = model.decode([tid])  # one token at a time, as the reference matches its strings
        fed, response, inner = fed + piece, response + piece, inner + piece
        retrieval_over = END_OF_RETRIEVE in response or len(response) > MAX_RETRIEVAL_CHARS
        round_over = ROUND_END in inner
        if round_over and not retrieval_over and not last_round:
            texts = model.documents(requested_documents(inner))
            end.documents, end.injected = within_cap(model.encode, [(n, t) for n, t in sorted(texts.items())])
            end.reason = "round"
            break
        if retrieval_over or round_over:
            # A call that stopped retrieving without writing <End-of-Retrieve> gets the question as well (the
            # reference would feed an empty segment, which it cannot run): the answer comes next either way.
            end.injected = model.encode(injected_question(asked_question(fed)))
            answering = True
            logits = model.forward(end.injected, True)
    yield end


def within_cap(encode: Callable[[str], list[int]], documents: list[tuple[int, str]]) -> tuple[list[int], list[int]]:
    """The leading documents whose injection stays within MAX_INJECTED_TOKENS -> (their numbers, its ids)."""
    kept, ids = [], encode(injected_documents([]))
    for n, text in documents:
        longer = encode(injected_documents([*kept, (n, text)]))
        if len(longer) > MAX_INJECTED_TOKENS:
            break
        kept, ids = [*kept, (n, text)], longer
    return [n for n, _ in kept], ids
