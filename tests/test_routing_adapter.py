"""Routing adapter: on exactly while memories are encoded and questions routed, part of the fingerprint,
trained with the routers by `msa model train-routing-adapter` (resumable)."""

from __future__ import annotations

import json
import shutil

import torch
from click.testing import CliRunner

from msa.cli.main import cli
from msa.model.api import MSAModel
from msa.model.checkpoints.fingerprint import fingerprint
from msa.model.lora import READER_FILE, ROUTING_FILE, LoRAAdapter
from msa.model.memory import Memory
from msa.model.train.routing_adapter import AdapterTrainConfig
from tests.adapter_helpers import fixed_batch, merge, randomize
from tests.conftest import rel_err

DOCS = ["Rex is a dog who lives in Paris and barks at the postman every single morning.",
        "Anna works at a bakery in Lyon.", "The river Sena flows north through the valley.",
        "My dentist appointment moved to Thursday at nine."]
QUESTION = "Where does Anna work?"


def with_routing_adapter(src, tmp_path, seed: int = 0):
    """A copy of checkpoint SRC with a random routing adapter -> (directory, the adapter's plain-model twin)."""
    ckpt = tmp_path / "ckpt"
    shutil.copytree(src, ckpt)
    plain = MSAModel.from_pretrained(src)
    adapter = LoRAAdapter(plain.transformer, rank=3, alpha=6.0)
    randomize(adapter, seed=seed, scale=0.1)
    adapter.save(ckpt / ROUTING_FILE)
    return ckpt, adapter


def test_encoding_and_routing_use_the_adapter_reading_does_not(checkpoint, tmp_path):
    src = checkpoint("qwen3", pooling_kernel_size=4)
    ckpt, _ = with_routing_adapter(src, tmp_path)
    model = MSAModel.from_pretrained(ckpt)
    assert model.router_adapter is not None and model.router_adapter.rank == 3
    plain = MSAModel.from_pretrained(src)  # the oracle merges the adapter as stored (float16) into plain weights
    merged = MSAModel(merge(model.router_adapter, MSAModel.from_pretrained(src).transformer), plain.tokenizer,
                      plain.stop_ids)
    got, want, base = (m.encode_documents(DOCS) for m in (model, merged, plain))
    for g, w, b in zip(got, want, base, strict=True):
        for layer in model.config.msa.router_layers:
            for part in ("keys", "values", "routing_keys"):
                assert rel_err(getattr(g, part)[layer], getattr(w, part)[layer]) < 1e-4
            assert rel_err(g.routing_keys[layer], b.routing_keys[layer]) > 1e-2
    # The question's routing pass goes through the adapter too: scores as the merged model's.
    routed, oracle = model.route(QUESTION, Memory(got)), merged.route(QUESTION, Memory(want))
    for layer, lr in routed.layers.items():
        torch.testing.assert_close(lr.scores, oracle.layers[layer].scores, rtol=1e-4, atol=1e-4)
    # Reading notes as text uses the base weights (and the reader adapter, when there is one).
    notes = [(1, DOCS[1])]
    assert model.read(QUESTION, notes, max_new_tokens=6) == plain.read(QUESTION, notes, max_new_tokens=6)


def test_merged_weights_equal_the_low_rank_path_also_with_both_adapters_on(checkpoint, tmp_path):
    src = checkpoint("llama")
    ckpt, _ = with_routing_adapter(src, tmp_path)
    reader = LoRAAdapter(MSAModel.from_pretrained(src).transformer, rank=2, alpha=4.0)
    randomize(reader, seed=5, scale=0.1)
    reader.save(ckpt / READER_FILE)
    model = MSAModel.from_pretrained(ckpt)
    assert all(m.merged is not None for m in [*model.router_adapter.modules.values(), *model.reader.modules.values()])
    ids = torch.tensor([5, 17, 3, 99, 42, 7, 64])
    with model.reading():
        merged_reading = model.transformer.causal_logits(ids)
    with model.routing():
        merged = model.transformer.causal_logits(ids)
    with model.routing(), model.reading():  # nested: the outer adapter must not skip the inner one
        both = model.transformer.causal_logits(ids)
    oracle = MSAModel.from_pretrained(src).transformer.double()
    merge(model.router_adapter, oracle)
    merge(model.reader, oracle)
    assert rel_err(both, oracle.causal_logits(ids)) < 1e-5
    for m in [*model.router_adapter.modules.values(), *model.reader.modules.values()]:
        m.merged = None
    with model.routing():
        low_rank = model.transformer.causal_logits(ids)
    with model.reading():
        low_rank_reading = model.transformer.causal_logits(ids)
    assert rel_err(merged, low_rank) < 1e-5 and rel_err(merged_reading, low_rank_reading) < 1e-5
    assert rel_err(merged, model.transformer.causal_logits(ids)) > 1e-2
    assert rel_err(merged_reading, model.transformer.causal_logits(ids)) > 1e-2


def test_fingerprint_covers_the_routing_adapter_not_the_reader(checkpoint, tmp_path):
    src = checkpoint("llama")
    ckpt, adapter = with_routing_adapter(src, tmp_path)
    with_adapter = fingerprint(ckpt)
    assert with_adapter != fingerprint(src)
    adapter.save(tmp_path / "reader.safetensors")
    shutil.copyfile(tmp_path / "reader.safetensors", ckpt / READER_FILE)
    assert fingerprint(ckpt) == with_adapter
    randomize(adapter, seed=1, scale=0.3)
    adapter.save(ckpt / ROUTING_FILE)
    assert fingerprint(ckpt) != with_adapter


def test_training_steps_lower_the_routing_loss(checkpoint):
    batch = fixed_batch(checkpoint)
    cfg = AdapterTrainConfig(questions=8, candidates=16)
    opt = torch.optim.AdamW(list(batch.model.router_adapter.parameters()), lr=1e-3)  # the adapter alone learns
    losses = []
    for _ in range(6):
        loss = batch.loss(cfg)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.8 * losses[0], losses


def test_cli_trains_resumes_and_the_result_loads(checkpoint, tmp_path):
    src = checkpoint("qwen3", pooling_kernel_size=4)
    out = tmp_path / "run"
    args = ["model", "train-routing-adapter", str(src), "--out", str(out), "--stores", "1", "--memories", "20",
            "--questions", "20", "--max-facts", "2", "--val-memories", "12", "--val-questions", "6", "--batch", "4",
            "--candidates", "8", "--rank", "2", "--eval-every", "1"]
    result = CliRunner().invoke(cli, [*args, "--steps", "2"])
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["step"] for line in (out / "log.jsonl").read_text().splitlines()] == [0, 1, 2]
    after_two = (out / ROUTING_FILE).read_bytes()
    result = CliRunner().invoke(cli, [*args, "--steps", "3"])
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["step"] for line in (out / "log.jsonl").read_text().splitlines()] == [0, 1, 2, 3]
    assert (out / ROUTING_FILE).read_bytes() != after_two
    ckpt = tmp_path / "ckpt"
    shutil.copytree(src, ckpt)
    shutil.copyfile(out / ROUTING_FILE, ckpt / ROUTING_FILE)
    model = MSAModel.from_pretrained(ckpt)
    assert model.router_adapter is not None and model.router_adapter.rank == 2
    assert any(float(m.lora_b.abs().max()) > 0 for m in model.router_adapter.modules.values())
