"""Byte-exact MSA-4B prompts (MSA_SPEC.md 2.1, 3.1, 5) and the tokenizer around them."""

from __future__ import annotations

import pytest

from msa.model import prompts
from msa.model.tokenizer import Tokenizer, TokenizerError


@pytest.fixture(scope="module")
def tok(checkpoint):
    return Tokenizer(checkpoint("qwen3"))


def test_literals_are_byte_exact():
    assert prompts.TEMPLATE_HEAD == "<|im_start|>user\n"
    assert prompts.QUESTION_PREFIX == (
        "\nPlease answer the question based on the above historical document information\n\n")
    assert prompts.QUESTION_SUFFIX == "\nPlease return all documents related to the question\n"
    assert prompts.document_text(7, "Rex is a dog.") == "<|im_start|>[7]. Rex is a dog.[7]<|im_end|>"
    assert prompts.context_document(7, "Rex is a dog.") == "[7]. Rex is a dog.\n"


def test_template_head_is_three_tokens(tok):
    ids = tok.encode(prompts.TEMPLATE_HEAD)
    assert ids == [tok.token_id("<|im_start|>"), tok.encode("user")[0], tok.encode("\n")[0]]


def test_question_block_is_tokenised_in_three_pieces(tok):
    q = prompts.question_tokens(tok, "Where does Rex live?")
    block = tok.encode(prompts.QUESTION_PREFIX + "Where does Rex live?" + prompts.QUESTION_SUFFIX)
    tail = tok.encode("<|im_end|>\n") + tok.encode("<|im_start|>")
    assert q.ids == block + tail and len(tail) == 3
    assert q.routing == [True] * len(block) + [False] * 3
    assert tok.decode(q.ids) == (prompts.QUESTION_PREFIX + "Where does Rex live?" + prompts.QUESTION_SUFFIX
                                 + "<|im_end|>\n<|im_start|>")


def test_special_tokens_survive_round_trip(tok):
    text = "<|im_start|>[3]. héllo wörld 🙂\t  x[3]<|im_end|><|object_ref_end|>"
    ids = tok.encode(text)
    assert tok.token_id("<|object_ref_end|>") in ids
    assert tok.decode(ids) == text


def test_chat_template_and_text_mode_prompt(tok):
    rendered = tok.apply_chat_template([{"role": "user", "content": "hi"}])
    assert rendered == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    prompt = prompts.text_mode_prompt(tok, "Where?", [(2, "A."), (5, "B.")])
    assert prompt == ("<|im_start|>user\nNotes:\n[2]. A.\n[5]. B.\n\nAnswer the question using the notes above.\n"
                      "Question: Where?<|im_end|>\n<|im_start|>assistant\n")


def test_missing_token_is_clear(tok):
    with pytest.raises(TokenizerError, match="'<nope>' is not in the vocabulary"):
        tok.token_id("<nope>")
