"""The model path on a CUDA device agrees with the CPU (run on the lent GPU; skipped on CPU)."""

from __future__ import annotations

import pytest
import torch

from msa.model.api import MSAModel
from msa.model.memory import Memory
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
