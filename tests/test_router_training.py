"""Router training: features, scores identical to inference, the loss, resumable runs, the data."""

from __future__ import annotations

import json

import torch
from click.testing import CliRunner

from msa.cli.main import cli
from msa.kernels.chunk_pool import chunk_pool
from msa.model.api import MSAModel
from msa.model.memory import Memory
from msa.model.train.router import decoupled_infonce, layer_scores
from msa.model.train.router_features import document_features, pool_chunks, query_features
from msa.model.train.router_run import init_routers
from msa.model.train.synthetic import HELDOUT_RELATIONS, RELATIONS, make_dataset

DOCS = ["Rex is a dog who lives in Paris. " * 4, "Anna works at a bakery in Lyon.", "The river Sena flows north."]
QUESTIONS = ["Where does Rex live?", "Who works at the bakery in Lyon today?", "x"]


def test_batched_question_features_equal_one_at_a_time(checkpoint):
    model = MSAModel.from_pretrained(checkpoint("qwen3"))
    a = query_features(model, QUESTIONS, [1, 2, 3])
    b = query_features(model, QUESTIONS, [1, 2, 3], batch=1)
    assert torch.equal(a.offsets, b.offsets)
    for layer in (1, 2, 3):
        torch.testing.assert_close(a.data[layer], b.data[layer], rtol=1e-5, atol=1e-5)


def test_differentiable_pooling_equals_the_kernel_and_has_gradients():
    gen = torch.Generator().manual_seed(5)
    lengths = [1, 63, 64, 65, 130, 7]  # a one-token document, partial, exact and several chunks
    cu = torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()])
    h = torch.randn(int(cu[-1]), 24, generator=gen, requires_grad=True)
    pooled, cu_chunks = pool_chunks(h, cu, 64)
    expected, expected_cu = chunk_pool(h.detach()[:, None, :], cu, 64)
    torch.testing.assert_close(pooled, expected[:, 0], rtol=1e-6, atol=1e-6)
    assert torch.equal(cu_chunks, expected_cu)
    pooled[1].sum().backward()  # the first chunk of the 63-token document: each token weighs 1/63
    assert torch.allclose(h.grad[1:64], torch.full((63, 24), 1 / 63)) and h.grad[0].abs().sum() == 0


def test_training_scores_equal_inference_routing(checkpoint):
    model = MSAModel.from_pretrained(checkpoint("llama", pooling_kernel_size=4))
    layers = list(model.config.msa.router_layers)
    routers = init_routers(model, layers, "cpu")
    with torch.no_grad():  # the checkpoint's own routers, as inference uses them
        for i in layers:
            attn = model.transformer.layers[i].self_attn
            routers.q[str(i)].weight.copy_(attn.router_q_proj.weight)
            routers.k[str(i)].weight.copy_(attn.router_k_proj.weight)
    docs = document_features(model, DOCS, layers)
    memory = Memory(model.encode_documents(DOCS))
    for q in QUESTIONS:
        routing = model.route(q, memory, read_mode="text", mode="clean")
        for i in layers:
            got = layer_scores(routers, i, query_features(model, [q], layers), docs)[0].detach()
            torch.testing.assert_close(got, routing.layers[i].scores, rtol=1e-5, atol=1e-6)


def test_decoupled_infonce_matches_its_formula():
    scores = torch.tensor([[0.9, 0.1, 0.5, 0.3]], dtype=torch.float64)
    gold = torch.tensor([[True, False, True, False]])
    t = 0.1
    negatives = torch.exp(scores[0, 1] / t) + torch.exp(scores[0, 3] / t)
    want = torch.stack([-torch.log(torch.exp(scores[0, i] / t) / (torch.exp(scores[0, i] / t) + negatives))
                        for i in (0, 2)]).mean()
    torch.testing.assert_close(decoupled_infonce(scores, gold, t), want)


def test_train_router_learns_and_resumes(checkpoint, tmp_path):
    path, out = checkpoint("qwen3"), tmp_path / "run"
    common = ["model", "train-router", str(path), "--out", str(out), "--stores", "1", "--everyday-stores", "1",
              "--memories", "30",
              "--questions", "60", "--max-facts", "3", "--val-memories", "20", "--val-questions", "20",
              "--batch", "16", "--eval-every", "10", "--lr", "3e-3"]
    first = CliRunner().invoke(cli, [*common, "--steps", "20"])
    assert first.exit_code == 0, first.output
    second = CliRunner().invoke(cli, [*common, "--steps", "40"])
    assert second.exit_code == 0, second.output
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [0, 10, 20, 30, 40]
    assert log[-1]["loss"] < log[1]["loss"]
    assert set(log[-1]["recall_sets"]) == {"synthetic", "everyday"}  # a validation store per training source
    assert (out / "routers.safetensors").exists()


def test_heldout_split_is_disjoint_from_training():
    train, names = make_dataset("train", 200, 200, seed=3)
    held, held_names = make_dataset("heldout", 200, 200, seed=3, avoid_names=names)
    assert not names & held_names
    held_relations = {r.name for r in RELATIONS if r.name in HELDOUT_RELATIONS}
    train_templates = {t for r in RELATIONS if r.name not in held_relations for t in r.documents + r.questions}
    held_templates = {t for r in RELATIONS if r.name in held_relations for t in r.documents + r.questions}
    assert not train_templates & held_templates and len(RELATIONS) >= 30
    for ds in (train, held):
        assert all(1 <= len(m.split(". ")) <= 20 for m in ds.memories)
        assert all(0 <= g < len(ds.memories) for e in ds.examples for g in e.gold)
    assert any(e.hops == 2 and len(set(e.gold)) == 2 for e in train.examples)
