"""int8 decoding on the CPU: one-row forwards of the merged reader and the head through int8 copies, checked
against the dequantized weights in float64; prompts keep the dense weights."""

from __future__ import annotations

import pytest
import torch

from msa.model.api import MSAModel
from msa.model.decoder import CachedMixer, KVCache
from msa.model.int8 import Int8Weight, OneTokenInt8, int8_per_channel
from tests.adapter_helpers import reader_checkpoint
from tests.conftest import rel_err


@pytest.mark.parametrize("shape", [(7, 16), (33, 64), (576, 1536), (5, 17), (16, 40), (3, 8)])
def test_an_int8_copy_is_its_dequantized_weight_or_is_refused(shape):
    """Some shapes make the CPU kernel return garbage (in-features not a multiple of 16 on AVX-512): those
    must be refused, every copy made must compute x @ dequantized.T."""
    g = torch.Generator().manual_seed(shape[0] * 1000 + shape[1])
    w = torch.randn(shape, generator=g)
    copy = Int8Weight.of(w)
    if copy is None:
        assert shape[1] % 64, "a projection of the models' shapes must get its copy"
        return
    for _ in range(3):
        x = torch.randn(1, shape[1], generator=g).bfloat16()
        want = x.double() @ copy.dequantized().T
        assert (copy(x).double() - want).abs().max() <= 0.02 * want.abs().max()  # bf16 output rounding


def test_per_channel_quantization_is_within_half_a_step():
    w = torch.randn(37, 48, generator=torch.Generator().manual_seed(1)) * torch.linspace(0.01, 3, 37)[:, None]
    w8, scale = int8_per_channel(w)
    assert w8.dtype == torch.int8 and scale.shape == (37,)
    error = (w.double() - w8.double() * scale.double()[:, None]).abs()
    assert (error <= scale.double()[:, None] * 0.5 + 1e-3 * w.abs().amax(1, keepdim=True)).all()  # + bf16 scale
    assert (w8.abs().amax(1) >= 126).all()  # each channel uses the whole range


def test_a_gpu_or_fp32_only_model_gets_no_copy_where_it_does_not_apply():
    assert Int8Weight.of(torch.randn(4, 16, 16)) is None


@pytest.mark.parametrize("family", ["qwen3", "llama"])
def test_decoding_steps_use_the_int8_copies_and_prompts_the_dense_weights(checkpoint, tmp_path, family, monkeypatch):
    ckpt = reader_checkpoint(checkpoint(family, dtype="bfloat16"), tmp_path)
    int8 = MSAModel.from_pretrained(ckpt, dtype="auto")  # the bf16 default on the CPU with a reader
    dense = MSAModel.from_pretrained(ckpt, dtype="bfloat16", int8_decoding=False)
    assert int8.dtype == dense.dtype == torch.bfloat16
    assert not isinstance(dense.transformer.lm_head, OneTokenInt8)
    calls = []
    plain_call = Int8Weight.__call__
    monkeypatch.setattr(Int8Weight, "__call__", lambda self, x: calls.append(x.shape) or plain_call(self, x))
    # The oracle: the model with every copied weight replaced by its dequantized int8 copy, in float64.
    oracle = MSAModel.from_pretrained(ckpt, dtype="float32", int8_decoding=False)
    oracle.transformer.double()
    for name, m in oracle.reader.modules.items():
        m.merged = int8.reader.modules[name].merged_int8.dequantized()
    oracle.transformer.lm_head.weight = torch.nn.Parameter(int8.transformer.lm_head.copy.dequantized())
    prompt, step = torch.tensor([5, 17, 3, 99, 42, 7]), torch.tensor([64])

    def logits(model):
        cache = KVCache(len(model.transformer.layers))
        with model.reading():
            first = model.transformer(prompt, torch.arange(6), CachedMixer(cache))  # [6, V]
            used_by_prompt = len(calls)
            second = model.transformer(step, torch.tensor([6]), CachedMixer(cache))  # [1, V]: a decoding step
        return first, second, used_by_prompt

    p_int8, s_int8, used_by_prompt = logits(int8)
    assert used_by_prompt == 0 and len(calls) == 7 * len(int8.transformer.layers) + 1  # every linear + head
    (p_dense, s_dense, _), (_, s_oracle, _) = logits(dense), logits(oracle)
    assert torch.equal(p_int8, p_dense)  # a prompt of several tokens never touches the copies
    assert rel_err(s_int8, s_oracle) < 0.03  # bf16 activations against float64 ones
    assert rel_err(s_int8, s_dense) < 0.03


def test_int8_decoding_needs_a_reader(checkpoint):
    with pytest.raises(ValueError, match="reader adapter"):
        MSAModel.from_pretrained(checkpoint("qwen3"), dtype="bfloat16", int8_decoding=True)
    assert not isinstance(MSAModel.from_pretrained(checkpoint("qwen3"), dtype="bfloat16").transformer.lm_head,
                          OneTokenInt8)  # the default without a reader: dense


def test_forwards_that_want_a_gradient_or_are_batched_keep_the_dense_weights():
    linear = torch.nn.Linear(64, 32, bias=False).to(torch.bfloat16)
    layer = OneTokenInt8(linear, Int8Weight.of(linear.weight))
    x = torch.randn(1, 64, dtype=torch.bfloat16)
    assert not torch.equal(layer(x), linear(x))  # one row: the int8 copy
    for dense in (x.requires_grad_(), torch.randn(1, 1, 64, dtype=torch.bfloat16)):
        torch.testing.assert_close(layer(dense), linear(dense), rtol=0, atol=0)
    layer(x).sum().backward()  # a gradient flows (through the dense weights)
    assert x.grad is not None
