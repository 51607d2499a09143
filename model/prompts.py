"""Prompts of the published MSA-4B, byte for byte (MSA_SPEC.md sections 2.1, 3.1 and 5).

Each piece is tokenised separately, exactly as the reference does, so token boundaries match.
"""

from __future__ import annotations

from dataclasses import dataclass

from msa.model.tokenizer import Tokenizer

# Hidden prefix before every memory and question: positions 0..2, cached for all layers.
TEMPLATE_HEAD = "<|im_start|>user\n"
QUESTION_PREFIX = "\nPlease answer the question based on the above historical document information\n\n"
QUESTION_SUFFIX = "\nPlease return all documents related to the question\n"
TEMPLATE_TAIL = "<|im_end|>\n"
RESPONSE_HEAD = "<|im_start|>"
ROUND_END = "<|object_ref_end|>"


def document_text(number: int, text: str) -> str:
    """How a memory document is rendered before encoding; `number` is its MSA document number [i]."""
    return f"<|im_start|>[{number}]. {text}[{number}]<|im_end|>"


def context_document(number: int, text: str) -> str:
    """A document read as original text (Memory Interleave's injection and `text` reading mode)."""
    return f"[{number}]. {text}\n"


@dataclass(frozen=True)
class QuestionTokens:
    """First-round query input: `routing` marks the question span that drives the routers."""

    ids: list[int]
    routing: list[bool]


def question_tokens(tok: Tokenizer, question: str) -> QuestionTokens:
    """[question block (routing span)] [<|im_end|>\\n] [<|im_start|>], each tokenised on its own."""
    block = tok.encode(QUESTION_PREFIX + question + QUESTION_SUFFIX)
    tail = tok.encode(TEMPLATE_TAIL) + tok.encode(RESPONSE_HEAD)
    return QuestionTokens(ids=block + tail, routing=[True] * len(block) + [False] * len(tail))


def text_mode_prompt(tok: Tokenizer, question: str, documents: list[tuple[int, str]]) -> str:
    """`text` reading: the selected documents' original text as notes before the question.

    `documents` come best-last: small models lean on the text nearest the question. Chat models get
    their own chat template; a tokenizer without one gets the ChatML turn the MSA prompts use.
    """
    content = ("Notes:\n" + "".join(context_document(n, t) for n, t in documents)
               + f"\nAnswer the question using the notes above.\nQuestion: {question}")
    if tok.chat_template:
        return tok.apply_chat_template([{"role": "user", "content": content}], add_generation_prompt=True)
    return TEMPLATE_HEAD + content + TEMPLATE_TAIL + RESPONSE_HEAD + "assistant\n"
