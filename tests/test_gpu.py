"""The model path on a CUDA device agrees with the CPU (run on the lent GPU; skipped on CPU)."""

from __future__ import annotations

import random

import pytest
import torch

from msa.model.api import MSAModel
from msa.model.lora import LoRAAdapter
from msa.model.memory import Memory
from msa.model.train.reader import reading_examples, reading_loss, tokenize
from msa.model.train.synthetic import make_dataset
from tests.conftest import rel_err

pytestmark = pytest.mark.gpu
FACTS = ["Rex is a dog who lives in Paris.", "Anna works at a bakery in Lyon. " * 5, "The river Sena flows north."]


@pytest.mark.parametrize("family", ["qwen3", "llama"])
def test_cuda_matches_cpu(checkpoint, family):
    path = checkpoint(family)
    cpu, gpu = MSAModel.from_pretrained(path), MSAModel.from_pretrained(path, device="cuda")
    torch.backends.cuda.matmul.allow_tf32 = False
    docs_cpu, docs_gpu = cpu.encode_documents(FACTS), gpu.encode_documents(FACTS)
    for a, b in zip(docs_cpu, docs_gpu, strict=True):
        for layer in a.keys:
            assert rel_err(b.keys[layer].cpu(), a.keys[layer]) <= 1e-5
            assert rel_err(b.routing_keys[layer].cpu(), a.routing_keys[layer]) <= 1e-5
    kw = dict(max_new_tokens=8, top_k=2, mode="clean")
    ra = cpu.generate("Where does Rex live?", Memory(docs_cpu), **kw)
    rb = gpu.generate("Where does Rex live?", Memory(docs_gpu), **kw)
    assert ra.token_ids == rb.token_ids
    assert {k: v.selected for k, v in ra.routing.layers.items()} == {
        k: v.selected for k, v in rb.routing.layers.items()}
    sampled = gpu.generate("Where does Rex live?", Memory(docs_gpu), temperature=1.0, seed=3, **kw)
    assert sampled.token_ids == gpu.generate("Where does Rex live?", Memory(docs_gpu), temperature=1.0,
                                             seed=3, **kw).token_ids


def test_cuda_bf16_generates(checkpoint):
    model = MSAModel.from_pretrained(checkpoint("qwen3", dtype="bfloat16"), device="cuda", dtype="bfloat16")
    result = model.generate("Where does Rex live?", Memory(model.encode_documents(FACTS)), max_new_tokens=8)
    assert len(result.token_ids) == 8 and result.routing.layers


def test_packed_reading_loss_on_cuda_matches_cpu(checkpoint):
    """The padded packed attention (CUDA) gives the loss and gradients of the per-example loop (CPU)."""
    path = checkpoint("llama")
    ds, _ = make_dataset("train", 30, 30, seed=1, max_facts=3)
    examples = reading_examples(ds, random.Random(0), max_notes=3, abstain=0.0)[:5]
    grads = []
    for device in ("cpu", "cuda"):
        model = MSAModel.from_pretrained(path, device=device)
        for p in model.transformer.parameters():
            p.requires_grad_(False)
        torch.manual_seed(0)
        model.reader = LoRAAdapter(model.transformer, rank=4)
        with torch.no_grad():
            for p in model.reader.parameters():
                p.copy_(torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())) * 0.05)
        batch = [tokenize(model, ex) for ex in examples]
        with model.reading():
            loss = reading_loss(model, batch)
        loss.backward()
        grads.append((float(loss), torch.cat([p.grad.flatten().cpu() for p in model.reader.parameters()])))
    assert abs(grads[0][0] - grads[1][0]) < 1e-4
    assert rel_err(grads[1][1], grads[0][1]) < 1e-3
