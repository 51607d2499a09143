"""Prompts of the published MSA-4B, byte for byte (MSA_SPEC.md sections 2.1, 3.1, 5 and 6).

Each piece is tokenised separately, exactly as the reference does, so token boundaries match.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from msa.model.tokenizer import Tokenizer

# Hidden prefix before every memory and question: positions 0..2, cached for all layers.
TEMPLATE_HEAD = "<|im_start|>user\n"
QUESTION_PREFIX = "\nPlease answer the question based on the above historical document information\n\n"
QUESTION_SUFFIX = "\nPlease return all documents related to the question\n"
TEMPLATE_TAIL = "<|im_end|>\n"
RESPONSE_HEAD = "<|im_start|>"
ROUND_END = "<|object_ref_end|>"
# Memory Interleave (spec 6): the protocol the model writes and the strings the reference matches
END_OF_RETRIEVE = "<End-of-Retrieve>"
ANSWER_MARKER = "The answer to the question is:"
REGENERATE = "<regenerate>"
RESPONSE_START = "\nPlease answer the question based"  # a round's response text starts here (spec 6.3)
ROUTED_ANCHOR = "Please return all documents related to the question"  # a regenerate prompt routes up to it
DOCUMENT_ID = re.compile(r"\[(\d+)\]")
END_OF_TEXT = "<|endoftext|>"


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


def injected_documents(documents: list[tuple[int, str]]) -> str:
    """What ends a retrieval round: the requested documents' original text, then the round delimiter."""
    return "".join(context_document(n, t) for n, t in documents) + ROUND_END


def injected_question(question: str) -> str:
    """What follows `<End-of-Retrieve>`: the question again, before the model answers (spec 6.2)."""
    return RESPONSE_HEAD + f"The user's question is: {question}\n" + ROUND_END


def asked_question(fed: str) -> str:
    """The question inside everything fed so far, as the reference finds it (spec 6.2)."""
    return fed.split("historical document information\n\n")[-1].split("\n" + ROUTED_ANCHOR)[0]


def requested_documents(generated: str) -> list[int]:
    """The document numbers a round's text asks for: every `[n]`, sorted, once each."""
    return sorted({int(n) for n in DOCUMENT_ID.findall(generated)})


def response_text(sequence: str) -> str:
    """A call's whole decoded sequence -> the response a `<regenerate>` prompt continues (spec 6.3)."""
    start = sequence.find(RESPONSE_START)
    return (sequence[start:] if start != -1 else sequence).replace(END_OF_TEXT, "")


def wants_another_round(response: str) -> bool:
    """The reference's `should_regenerate`: a response that ended a round and holds no answer yet."""
    return response.endswith(ROUND_END) and ANSWER_MARKER not in response


def extracted_answer(generated: str) -> str:
    """The answer after the marker, up to `<|im_end|>` (spec 6.3)."""
    return generated.split(ANSWER_MARKER)[-1].split("<|im_end|>")[0].strip()


def routed_response(question: str, documents: list[tuple[int, str]]) -> str:
    """The response a first round would have written to read `documents`: what a `<regenerate>` prompt of
    text reading continues, so that the next round routes on the question and these documents."""
    asked = "".join(f"[{n}]" for n, _ in documents) + ROUND_END
    return (QUESTION_PREFIX + question + QUESTION_SUFFIX + TEMPLATE_TAIL + RESPONSE_HEAD + asked
            + injected_documents(documents))


def regenerate_tokens(tok: Tokenizer, prompt: str) -> QuestionTokens:
    """A `<regenerate>` prompt as the reference builds its request (spec 6.3): the text after the marker
    tokenised as is, no template tail; routing on every token up to and including ROUTED_ANCHOR and on the
    most recently injected documents (from the `[` after the last `]<|object_ref_end|>[` to the next
    `<|object_ref_end|>`). Spans come from the token counts of text prefixes, as the reference counts them."""
    text = prompt.split(REGENERATE)[1]
    ids = tok.encode(text)
    routing = [False] * len(ids)
    marker = "]" + ROUND_END + "["
    last = text.rfind(marker)
    if last != -1:
        start = last + len(marker) - 1
        end = text.find(ROUND_END, start)
        if end != -1:
            first = len(tok.encode(text[:start]))
            for i in range(first, min(first + len(tok.encode(text[start:end])), len(ids))):
                routing[i] = True
    anchor = text.find(ROUTED_ANCHOR)
    if anchor != -1:
        for i in range(min(len(tok.encode(text[:anchor + len(ROUTED_ANCHOR)])), len(ids))):
            routing[i] = True
    return QuestionTokens(ids=ids, routing=routing)
