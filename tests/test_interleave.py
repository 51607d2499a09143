"""Memory Interleave in the reference's protocol (MSA_SPEC.md 6) on a tiny checkpoint whose decoding is forced
through every stage: a round that asks for a document, the `<regenerate>` continuation built from it, the
end of retrieval, the question fed again as one segment whose tokens see each other, and the answer. Every
logit the state machine decides on equals a dense forward over the whole logical sequence with explicit
positions and masks (the step-by-step oracle); the `<regenerate>` request equals one built from character
offsets."""

from __future__ import annotations

import torch

from msa.model import prompts
from msa.model.api import MSAModel
from msa.model.generate import GenerationResult, Retrieved, Sampling
from msa.model.memory import Memory
from tests.conftest import rel_err
from tests.test_msa_attention import MaskedMixer

DOCS = ["Rex is a dog who lives in Paris.", "Anna works at a bakery in Lyon.", "The river flows north."]
QUESTION = "Where does Rex live?"


class Forced:
    """Chooses the scripted tokens in order and keeps every logits row it was asked to decide on."""

    def __init__(self, script: list[int]) -> None:
        self.script, self.seen = list(script), []

    def __call__(self, logits: torch.Tensor) -> int:
        self.seen.append(logits.clone())
        return self.script[len(self.seen) - 1]


def dense_logits(model: MSAModel, docs, local: list[int], both_ways: range = range(0)) -> torch.Tensor:
    """Logits of `local` tokens (positions 3 + k + i) after [template; every document, each at its own
    positions 0..L-1], under MSA's masks: router layers' local tokens see the documents (top_k covers them
    all), every local token the template and earlier local tokens, and tokens of `both_ways` each other."""
    cfg, first = model.config, len(model.template_ids) + cfg_top_k(model)
    n_tpl, lengths = len(model.template_ids), [len(d.token_ids) for d in docs]
    n_doc, n_loc = sum(lengths), len(local)
    total = n_tpl + n_doc + n_loc
    ids = torch.tensor([*model.template_ids, *(t for d in docs for t in d.token_ids), *local])
    positions = torch.cat([torch.arange(n_tpl), *(torch.arange(n) for n in lengths), first + torch.arange(n_loc)])
    base = torch.zeros(total, total, dtype=torch.bool)
    base[:n_tpl, :n_tpl] = torch.ones(n_tpl, n_tpl).tril().bool()
    start = n_tpl
    for n in lengths:
        base[start:start + n, start:start + n] = torch.ones(n, n).tril().bool()
        start += n
    loc = slice(n_tpl + n_doc, total)
    base[loc, :n_tpl] = True
    base[loc, loc] = torch.ones(n_loc, n_loc).tril().bool()
    seg = slice(n_tpl + n_doc + both_ways.start, n_tpl + n_doc + both_ways.stop) if len(both_ways) else None
    if seg:
        base[seg, seg] = True
    masks = {}
    for layer in range(cfg.num_hidden_layers):
        mask = base.clone()
        mask[loc, n_tpl:n_tpl + n_doc] = layer in cfg.msa.router_layers
        masks[layer] = mask
    with torch.no_grad():
        return model.transformer(ids, positions, MaskedMixer(masks))[-n_loc:]


def cfg_top_k(model: MSAModel) -> int:
    return model.config.msa.doc_top_k


def run(model: MSAModel, memory: Memory, question: str, script: list[int], rounds: int) -> tuple[list, Forced]:
    forced = Forced(script)
    events = list(model._interleave(model._request(question), memory, Sampling(64), "compat", cfg_top_k(model),
                                    rounds, None, choose=forced))
    return events, forced


def test_every_stage_matches_the_dense_oracle(checkpoint):
    model = MSAModel.from_pretrained(checkpoint("qwen3", pooling_kernel_size=1))
    tok = model.tokenizer
    docs = model.encode_documents(DOCS)
    memory = Memory(docs)
    ask = [*tok.encode("[1]"), tok.token_id(prompts.ROUND_END)]
    retrieved = tok.encode(prompts.END_OF_RETRIEVE)
    answer = tok.encode(" The answer to the question is: Paris")
    stop = min(model.stop_ids)
    events, forced = run(model, memory, QUESTION, ask + retrieved + answer + [stop], rounds=3)

    result = events[-1]
    assert isinstance(result, GenerationResult) and result.stop_reason == "stop"
    assert [e.round for e in events if isinstance(e, Retrieved)] == [1, 2]
    assert [(r.round, r.requested) for r in result.rounds] == [(1, [1]), (2, [])]
    assert result.token_ids == ask + retrieved + answer
    assert result.answer == "Paris" and result.text.endswith(tok.decode(answer))

    # Round 1: the prompt, then the tokens that ask for document 1 (decided after the prompt and each token
    # but the last, which is fed before the documents are appended without a forward).
    first = prompts.question_tokens(tok, QUESTION).ids
    want = dense_logits(model, docs, first + ask)
    decided = [len(first) - 1 + i for i in range(len(ask))]
    assert all(rel_err(forced.seen[i], want[j]) <= 1e-5 for i, j in enumerate(decided))

    # Round 2: a fresh prefill of the response so far (the reference's <regenerate> prompt), <End-of-Retrieve>,
    # the question again as one segment seen both ways, then the answer.
    injected = tok.encode(prompts.injected_documents([(1, DOCS[1])]))
    response = prompts.response_text(tok.decode(first + ask + injected))
    assert response.endswith(f"[1]{prompts.ROUND_END}[1]. {DOCS[1]}\n{prompts.ROUND_END}")
    second = prompts.regenerate_tokens(tok, prompts.REGENERATE + response).ids
    segment = tok.encode(prompts.injected_question(QUESTION))
    local = second + retrieved + segment + answer
    seg_start = len(second) + len(retrieved)
    want = dense_logits(model, docs, local, both_ways=range(seg_start, seg_start + len(segment)))
    # decided after the prompt and each <End-of-Retrieve> token but the last (fed, then the segment follows),
    # then after the segment and each answer token
    decided = [len(second) - 1 + i for i in range(len(retrieved))] + [
        seg_start + len(segment) - 1 + i for i in range(len(answer) + 1)]
    seen = forced.seen[len(ask):]
    assert len(seen) == len(decided)
    assert all(rel_err(seen[i], want[j]) <= 1e-5 for i, j in enumerate(decided))
    # The segment really attends both ways: a causal segment gives other answer logits.
    causal = dense_logits(model, docs, local)
    assert rel_err(causal[seg_start + len(segment) - 1], want[seg_start + len(segment) - 1]) > 1e-3


def test_the_last_round_answers_instead_of_asking_again(checkpoint):
    model = MSAModel.from_pretrained(checkpoint("qwen3", pooling_kernel_size=1))
    tok = model.tokenizer
    memory = Memory(model.encode_documents(DOCS))
    ask = [*tok.encode("[0][2]"), tok.token_id(prompts.ROUND_END)]
    answer = tok.encode(" The answer to the question is: Paris")
    events, _ = run(model, memory, QUESTION, ask + ask + answer + [min(model.stop_ids)], rounds=2)
    result = events[-1]
    assert [(r.round, r.requested) for r in result.rounds] == [(1, [0, 2]), (2, [])]
    assert result.stop_reason == "stop" and result.token_ids == ask + ask + answer


def test_a_regenerate_prompt_routes_on_the_question_and_the_newest_documents(checkpoint):
    tok = MSAModel.from_pretrained(checkpoint("qwen3")).tokenizer
    older, newer = "Anna works at a bakery in Lyon.", "Rex is a dog who lives in Paris."
    response = (prompts.QUESTION_PREFIX + QUESTION + prompts.QUESTION_SUFFIX + "<|im_end|>\n<|im_start|>"
                f"[1]{prompts.ROUND_END}[1]. {older}\n{prompts.ROUND_END}[0]{prompts.ROUND_END}[0]. {newer}\n"
                f"{prompts.ROUND_END}")
    request = prompts.regenerate_tokens(tok, prompts.REGENERATE + response)
    encoding = tok._tok.encode(response, add_special_tokens=False)  # character offsets of every token
    assert request.ids == encoding.ids
    anchor_end = response.find(prompts.ROUTED_ANCHOR) + len(prompts.ROUTED_ANCHOR)
    newest = response.rfind(f"[0]. {newer}")
    newest_end = response.find(prompts.ROUND_END, newest)
    want = [end <= anchor_end or (start >= newest and end <= newest_end) for start, end in encoding.offsets]
    assert request.routing == want
    assert sum(want[len(tok.encode(response[:newest])):]) == len(tok.encode(f"[0]. {newer}\n"))


def test_text_reading_rounds_route_on_the_question_and_the_notes_found(checkpoint):
    """Round 2 of text reading ranks the documents as a `<regenerate>` prompt of round 1's notes routes, adds
    its best new ones, and the answer reads every note: round 1's best last, then round 2's."""
    model = MSAModel.from_pretrained(checkpoint("qwen3"))
    texts = [*DOCS, "Paris is the home of the Louvre.", "Lyon has two rivers.", "Rex barks at the postman."]
    memory = Memory(model.encode_documents(texts))
    events = list(model.stream(QUESTION, memory, read_mode="text", top_k=2, rounds=2, max_new_tokens=3))
    result = events[-1]
    first = [n for n, _ in model.route(QUESTION, memory, read_mode="text", top_k=2).ranking()][:2]
    again = model.route(prompts.REGENERATE + prompts.routed_response(QUESTION, [(n, texts[n]) for n in first]),
                        memory, read_mode="text", top_k=2)
    second = [n for n, _ in again.ranking() if n not in first][:2]
    assert [(r.round, r.read) for r in result.rounds] == [(1, first), (2, second)]
    for layer, lr in result.rounds[1].routing.layers.items():  # round 2 routed exactly as that prompt does
        torch.testing.assert_close(lr.scores, again.layers[layer].scores, rtol=0, atol=0)
    assert [(e.round, e.documents) for e in events if isinstance(e, Retrieved)] == [(1, first[::-1]),
                                                                                   (2, second[::-1])]
    assert result.documents == first[::-1] + second[::-1]
    prompt = prompts.text_mode_prompt(model.tokenizer, QUESTION, [(n, texts[n]) for n in result.documents])
    assert result.prompt_tokens == len(model.tokenizer.encode(prompt))
    # the notes really steer round 2: routing on the question alone ranks otherwise
    alone = model.route(QUESTION, memory, read_mode="text", top_k=2)
    assert any(not torch.equal(lr.scores, alone.layers[layer].scores) for layer, lr in again.layers.items())
    single = model.generate(QUESTION, memory, read_mode="text", top_k=2, max_new_tokens=3)
    assert single.documents == first[::-1] and single.rounds == []


def test_a_round_that_would_outgrow_the_context_answers_instead(checkpoint, monkeypatch):
    """Rounds are bounded by the context: when the next prompt could not fit, the call answers from what it has."""
    from msa.model import api

    model = MSAModel.from_pretrained(checkpoint("qwen3", pooling_kernel_size=1))
    tok = model.tokenizer
    memory = Memory(model.encode_documents(DOCS))
    ask = [*tok.encode("[1]"), tok.token_id(prompts.ROUND_END)]
    answer = tok.encode(" The answer to the question is: Paris")
    monkeypatch.setattr(api, "MAX_INJECTED_TOKENS", model.context_length)
    events, _ = run(model, memory, QUESTION, ask + answer + [min(model.stop_ids)], rounds=3)
    result = events[-1]
    assert [(r.round, r.requested) for r in result.rounds] == [(1, [])] and result.answer == "Paris"


def test_one_round_injects_documents_up_to_the_cap(monkeypatch):
    from msa.model import interleave

    encode = list  # one token a character
    documents = [(0, "a" * 10), (3, "b" * 10), (5, "c" * 10)]
    whole = len(prompts.injected_documents(documents[:2]))
    monkeypatch.setattr(interleave, "MAX_INJECTED_TOKENS", whole)
    numbers, ids = interleave.within_cap(encode, documents)
    assert numbers == [0, 3] and ids == list(prompts.injected_documents(documents[:2]))
    monkeypatch.setattr(interleave, "MAX_INJECTED_TOKENS", 0)
    assert interleave.within_cap(encode, documents) == ([], list(prompts.ROUND_END))
