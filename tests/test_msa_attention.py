"""MSA invariants on tiny random checkpoints: encoding independence and the exact dense equivalence."""

from __future__ import annotations

import pytest
import torch

from msa.model.api import MSAModel
from msa.model.checkpoints.random_checkpoint import config_dict
from msa.model.config import ModelConfig
from msa.model.decoder import Attention, KVCache, PackedCausal, Rope, attend
from msa.model.encode import CPU_PASS_TOKENS, pass_tokens
from msa.model.memory import Memory
from msa.model.prompts import question_tokens
from msa.model.routing import RoutedPrefillMixer, route_spec
from tests.conftest import rel_err

TEXTS = [
    "Rex is a dog who lives in Paris with his owner.",
    "The river Sena flows north through the old city of Morrow and ends in a wide green delta. " * 3,
    "Anna works at a bakery.",
    "x",
]


def assert_same_encoding(a, b, tol=1e-6):
    assert a.token_ids == b.token_ids and a.keys.keys() == b.keys.keys()
    for layer in a.keys:
        for name in ("keys", "values", "routing_keys"):
            assert rel_err(getattr(a, name)[layer], getattr(b, name)[layer]) <= tol, (name, layer)


@pytest.mark.parametrize("family", ["qwen3", "llama"])
def test_packed_equals_one_by_one(checkpoint, family):
    model = MSAModel.from_pretrained(checkpoint(family))
    packed = model.encode_documents(TEXTS)
    assert [d.num_chunks for d in packed] == [
        -(-len(d.token_ids) // model.config.msa.pooling_kernel_size) for d in packed]
    for i, text in enumerate(TEXTS):
        (alone,) = model.encode_documents([text], numbers=[i])
        assert_same_encoding(packed[i], alone)
    # Forwards capped to a few tokens give the same documents too.
    small = model.encode_documents(TEXTS, max_batch_tokens=20)
    for a, b in zip(packed, small, strict=True):
        assert_same_encoding(a, b)


@pytest.mark.parametrize(("intermediate", "dtype", "tokens"), [
    (1536, torch.bfloat16, 1 << 18), (1536, torch.float32, 1 << 17), (9728, torch.bfloat16, 1 << 15),
    (9728, torch.float32, 1 << 14), (40000, torch.float32, 1 << 14)])
def test_a_gpu_encodes_in_forwards_as_wide_as_its_activations_allow(intermediate, dtype, tokens):
    """SmolLM2 (intermediate 1536) in bf16 gets the widest forward; MSA-4B's (9728) MLP narrows it; never below
    the CPU's width, and a CPU always gets its own."""
    raw = config_dict("llama", "tiny", 1024, {"<|endoftext|>": 0, "<|im_end|>": 1})
    config = ModelConfig.from_dict({**raw, "intermediate_size": intermediate})
    assert pass_tokens(config, torch.device("cuda"), dtype) == tokens
    assert pass_tokens(config, torch.device("cpu"), dtype) == CPU_PASS_TOKENS


def test_document_unchanged_when_others_added_or_removed(checkpoint):
    model = MSAModel.from_pretrained(checkpoint("qwen3"))
    (b_alone,) = model.encode_documents([TEXTS[1]], numbers=[6])
    with_others = model.encode_documents([TEXTS[0], TEXTS[1], TEXTS[2]], numbers=[5, 6, 7])
    assert_same_encoding(with_others[1], b_alone)
    # Routing scores of a document do not depend on the other memories (text reading: nothing injected).
    memory = Memory(with_others)
    full = model.route("Where does Rex live?", memory, read_mode="text")
    memory.remove([5, 7])
    alone = model.route("Where does Rex live?", memory, read_mode="text")
    for layer, lr in alone.layers.items():
        assert rel_err(lr.scores, full.layers[layer].scores[1:2]) <= 1e-6


class MaskedMixer:
    """Dense reference: every layer attends over the whole sequence under its own boolean mask."""

    def __init__(self, masks: dict[int, torch.Tensor]) -> None:
        self.masks = masks

    def __call__(self, layer: int, attn: Attention, h: torch.Tensor, rope: Rope) -> torch.Tensor:
        q, k, v = attn.project(h, rope)
        out = torch.nn.functional.scaled_dot_product_attention(
            q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1), attn_mask=self.masks[layer],
            scale=attn.scale, enable_gqa=True)
        return out.transpose(0, 1)


def dense_layout(n_tpl: int, n_doc: int, n_q: int, first_q_pos: int, sees_doc: bool):
    """[template; document; question] positions and mask, derived from the MSA layout.

    Template tokens are causal among themselves and documents causal within themselves (both encoded
    apart); question tokens see the template, the document iff the layer reads memory, and earlier
    question tokens.
    """
    t = n_tpl + n_doc + n_q
    positions = torch.cat([torch.arange(n_tpl), torch.arange(n_doc), first_q_pos + torch.arange(n_q)])
    mask = torch.zeros(t, t, dtype=torch.bool)
    mask[:n_tpl, :n_tpl] = torch.ones(n_tpl, n_tpl).tril().bool()
    d = slice(n_tpl, n_tpl + n_doc)
    mask[d, d] = torch.ones(n_doc, n_doc).tril().bool()
    qs = slice(n_tpl + n_doc, t)
    mask[qs, :n_tpl] = True
    mask[qs, d] = sees_doc
    mask[qs, qs] = torch.ones(n_q, n_q).tril().bool()
    return positions, mask


@pytest.mark.parametrize("family", ["qwen3", "llama"])
@pytest.mark.parametrize("mode", ["compat", "clean"])
def test_pooling_one_equals_dense_attention(checkpoint, family, mode):
    """With chunk size 1, one document and top_k >= 1, every router layer reads the document's exact K/V:
    the question's logits equal a dense forward over [template; document; question] with the MSA
    positions (template 0..2, document 0..L-1, question from 3 + k) and the mask of `dense_layout`."""
    model = MSAModel.from_pretrained(checkpoint(family, pooling_kernel_size=1))
    cfg, top_k = model.config, 4
    (doc,) = model.encode_documents([TEXTS[0]], numbers=[3])
    memory = Memory([doc])
    q = question_tokens(model.tokenizer, "Where does Rex live?")
    n_tpl, first = len(model.template_ids), len(model.template_ids) + top_k
    cache = KVCache(cfg.num_hidden_layers)
    mixer = RoutedPrefillMixer(cache, cfg, model.template, memory, torch.tensor(q.routing),
                               route_spec(cfg, mode, model.dtype), top_k)
    q_ids = torch.tensor(q.ids)
    with torch.no_grad():
        got = model.transformer(q_ids, first + torch.arange(len(q.ids)), mixer)
        assert all(lr.selected == [3] for lr in mixer.routing.layers.values())
        assert sorted(mixer.routing.layers) == list(cfg.msa.router_layers)
        # one decode step through the same cache
        nxt = torch.tensor([int(got[-1].argmax())])
        got_step = model.transformer(nxt, torch.tensor([first + len(q.ids)]), mixer)

        ids = torch.cat([torch.tensor(model.template_ids), torch.tensor(doc.token_ids), q_ids, nxt])
        layouts = {i: dense_layout(n_tpl, len(doc.token_ids), len(q.ids) + 1, first,
                                   i in cfg.msa.router_layers) for i in range(cfg.num_hidden_layers)}
        positions = layouts[0][0]
        want = model.transformer(ids, positions, MaskedMixer({i: m for i, (_, m) in layouts.items()}))
    n_q = len(q.ids)
    assert rel_err(got, want[-n_q - 1:-1]) <= 1e-5
    assert rel_err(got_step, want[-1:]) <= 1e-5


def test_pooling_one_equals_transformers_dense_attention(checkpoint):
    """The same equivalence against transformers' Qwen3 with a custom 4D mask, all layers routing."""
    pytest.importorskip("transformers")
    from tests.test_backbone_parity import hf_model

    path = checkpoint("qwen3", pooling_kernel_size=1, router_layer_idx="all")
    model = MSAModel.from_pretrained(path)
    (doc,) = model.encode_documents([TEXTS[1]], numbers=[0])
    q = question_tokens(model.tokenizer, "Which river flows north?")
    n_tpl, first, top_k = len(model.template_ids), len(model.template_ids) + 16, 16
    cache = KVCache(model.config.num_hidden_layers)
    mixer = RoutedPrefillMixer(cache, model.config, model.template, Memory([doc]), torch.tensor(q.routing),
                               route_spec(model.config, "clean", model.dtype), top_k)
    with torch.no_grad():
        got = model.transformer(torch.tensor(q.ids), first + torch.arange(len(q.ids)), mixer)
        positions, mask = dense_layout(n_tpl, len(doc.token_ids), len(q.ids), first, True)
        ids = torch.cat([torch.tensor(model.template_ids), torch.tensor(doc.token_ids), torch.tensor(q.ids)])
        bias = torch.zeros(mask.shape).masked_fill(~mask, float("-inf"))[None, None]
        ref = hf_model(path)
        want = ref(ids[None], position_ids=positions[None], attention_mask=bias).logits[0]
    routed = mixer.routing.layers  # the dense reference reads the document at every layer: so must routing
    assert sorted(routed) == list(range(model.config.num_hidden_layers)) and all(
        lr.selected == [0] for lr in routed.values())
    assert rel_err(got, want[-len(q.ids):]) <= 1e-5


def test_attend_is_bottom_right_causal():
    gen = torch.Generator().manual_seed(0)
    q, k, v = torch.randn(3, 4, 8, generator=gen), torch.randn(7, 2, 8, generator=gen), torch.randn(7, 2, 8,
                                                                                                    generator=gen)
    out = attend(q, k, v, 8 ** -0.5)
    for i in range(3):  # query i sees keys 0 .. 4 + i
        ref = attend(q[i:i + 1], k[: 5 + i], v[: 5 + i], 8 ** -0.5)
        assert rel_err(out[i:i + 1], ref) <= 1e-6


def packed_reference(q, k, v, scale, lengths):
    """float64, one document at a time, GQA by repeating each key head over its query heads."""
    out, start = [], 0
    for n in lengths:
        qd, kd, vd = (x[start:start + n].double() for x in (q, k, v))
        kd, vd = (x.repeat_interleave(q.shape[1] // k.shape[1], dim=1) for x in (kd, vd))
        scores = torch.einsum("qhd,khd->hqk", qd, kd) * scale
        scores = scores.masked_fill(~torch.ones(n, n, dtype=torch.bool).tril(), float("-inf"))
        out.append(torch.einsum("hqk,khd->qhd", scores.softmax(-1), vd))
        start += n
    return torch.cat(out)


@pytest.mark.parametrize("padded", [False, True])
def test_packed_causal_matches_a_float64_reference(padded):
    gen = torch.Generator().manual_seed(11)
    lengths = [5, 5, 1, 33, 2, 2, 2, 17]  # runs of equal lengths too
    t = sum(lengths)
    q = torch.randn(t, 6, 16, generator=gen, requires_grad=True)
    k, v = (torch.randn(t, 2, 16, generator=gen, requires_grad=True) for _ in range(2))
    cu = torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()])
    out = PackedCausal(cu, padded=padded)(q, k, v, 0.25)
    want = packed_reference(q, k, v, 0.25, lengths)
    assert rel_err(out.detach(), want.detach()) <= 1e-5
    grads = torch.autograd.grad(out.square().sum(), (q, k, v))
    wants = torch.autograd.grad(want.square().sum(), (q, k, v))
    assert all(rel_err(g, w) <= 1e-5 for g, w in zip(grads, wants, strict=True))


def test_packed_causal_without_a_gradient_matches_a_float64_reference():
    """Encoding on the CPU (no gradient): the blocked float32 path, runs of one and several documents."""
    gen = torch.Generator().manual_seed(12)
    lengths = [5, 5, 1, 140, 2, 2, 2, 17]
    q, k, v = (torch.randn(sum(lengths), heads, 16, generator=gen) for heads in (6, 2, 2))
    cu = torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()])
    with torch.no_grad():
        out = PackedCausal(cu)(q, k, v, 0.25)
        assert PackedCausal(cu)(q.bfloat16(), k.bfloat16(), v.bfloat16(), 0.25).dtype == torch.bfloat16
    want = packed_reference(q.double(), k.double(), v.double(), 0.25, lengths)
    assert (out.double() - want).abs().max() <= 2e-5


def test_the_kv_cache_grows_in_place_and_earlier_views_keep_their_rows():
    """Decoding writes one row a step into spare room; what an earlier step was handed never changes."""
    gen = torch.Generator().manual_seed(11)
    cache = KVCache(2)
    parts = [torch.randn(n, 3, 8, generator=gen) for n in (5, 1, 1, 3, *[1] * 70)]  # a prefill, then steps
    handed = []
    for part in parts:
        k, v = cache.extend(1, part, -part)
        handed.append((k, v, k.clone()))
    whole = torch.cat(parts)
    assert torch.equal(cache.k[1], whole) and torch.equal(cache.v[1], -whole) and cache.length(1) == len(whole)
    for k, v, then in handed:  # views handed out earlier still hold exactly their rows
        assert torch.equal(k, then) and torch.equal(v, -then)
    assert cache.k[0] is None and cache.length(0) == 0
    mine = torch.zeros(4, 3, 8)
    cache.k[1], cache.v[1] = mine, mine  # someone put tensors of their own there: the next step starts from them
    k, v = cache.extend(1, parts[0], parts[0])
    assert torch.equal(k, torch.cat([mine, parts[0]])) and torch.equal(v, k)
