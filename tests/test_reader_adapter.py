"""Reader adapter: off by default and per thread, exact save/load, routing untouched, training learns."""

from __future__ import annotations

import random
import shutil
import threading

import pytest
import torch
from click.testing import CliRunner

from msa.cli.main import cli
from msa.model.api import MSAModel
from msa.model.lora import READER_FILE, AdapterError, LoRAAdapter
from msa.model.memory import Memory
from msa.model.train.everyday import abstain_questions, make_everyday_dataset
from msa.model.train.reader import NOT_IN_NOTES, reading_examples, reading_loss, tokenize
from msa.model.train.synthetic import make_dataset
from tests.adapter_helpers import merge, randomize

IDS = torch.tensor([5, 17, 3, 99, 42, 7, 64])
DOCS = ["Rex is a dog who lives in Paris.", "Anna works at a bakery in Lyon.", "The river Sena flows north."]


def test_adapter_is_off_outside_active_and_exact_when_zero(checkpoint):
    model = MSAModel.from_pretrained(checkpoint("llama"))
    base = model.transformer.causal_logits(IDS)
    adapter = LoRAAdapter(model.transformer, rank=4, alpha=8.0)
    with adapter.active():  # B starts at zero: the adapter changes nothing until trained
        assert torch.equal(model.transformer.causal_logits(IDS), base)
    randomize(adapter)
    assert torch.equal(model.transformer.causal_logits(IDS), base)
    with adapter.active():
        changed = model.transformer.causal_logits(IDS)
    assert not torch.allclose(changed, base, atol=1e-4)
    # The adapter equals merging W + alpha/r * B @ A into the weights, checked in float64.
    merged = merge(adapter, MSAModel.from_pretrained(checkpoint("llama")).transformer.double())
    torch.testing.assert_close(changed, merged.causal_logits(IDS).float(), rtol=1e-4, atol=1e-4)


def test_switch_is_per_thread(checkpoint):
    model = MSAModel.from_pretrained(checkpoint("qwen3"))
    base = model.transformer.causal_logits(IDS)
    adapter = LoRAAdapter(model.transformer, rank=2)
    randomize(adapter)
    seen = {}
    with adapter.active():
        worker = threading.Thread(target=lambda: seen.setdefault("other", model.transformer.causal_logits(IDS)))
        worker.start()
        worker.join()
    assert torch.equal(seen["other"], base)


def test_save_load_roundtrip_and_routing_untouched(checkpoint, tmp_path):
    src = checkpoint("qwen3", pooling_kernel_size=4)
    plain = MSAModel.from_pretrained(src)
    adapter = LoRAAdapter(plain.transformer, rank=3, alpha=6.0)
    randomize(adapter, seed=1, scale=0.5)
    with adapter.active():
        want = plain.transformer.causal_logits(IDS)
    ckpt = tmp_path / "ckpt"
    shutil.copytree(src, ckpt)
    adapter.save(ckpt / READER_FILE)
    with_reader = MSAModel.from_pretrained(ckpt)
    assert with_reader.reader is not None
    with with_reader.reading():
        got = with_reader.transformer.causal_logits(IDS)
    torch.testing.assert_close(got, want, rtol=1e-2, atol=1e-2)  # stored as fp16
    assert MSAModel.from_pretrained(ckpt, reader=False).reader is None

    fresh = MSAModel.from_pretrained(src)
    memory_a = Memory(fresh.encode_documents(DOCS))
    memory_b = Memory(with_reader.encode_documents(DOCS))
    for layer in fresh.config.msa.router_layers:  # encoding uses the base weights
        torch.testing.assert_close(memory_a[0].routing_keys[layer], memory_b[0].routing_keys[layer])
    ra = fresh.route("Where does Rex live?", memory_a, top_k=2)
    rb = with_reader.route("Where does Rex live?", memory_b, top_k=2)
    assert {k: v.selected for k, v in ra.layers.items()} == {k: v.selected for k, v in rb.layers.items()}
    text_a = fresh.generate("Where does Rex live?", memory_a, read_mode="text", max_new_tokens=6)
    text_b = with_reader.generate("Where does Rex live?", memory_b, read_mode="text", max_new_tokens=6)
    assert text_a.documents == text_b.documents
    assert text_a.token_ids != text_b.token_ids  # the reading pass does use the adapter


def test_load_rejects_a_mismatched_file(checkpoint, tmp_path):
    model = MSAModel.from_pretrained(checkpoint("qwen3"))
    LoRAAdapter(model.transformer, rank=2).save(tmp_path / "a.safetensors")
    other = MSAModel.from_pretrained(checkpoint("qwen3", preset="small"))
    with pytest.raises(AdapterError, match=r"shape|missing"):
        LoRAAdapter.load(other.transformer, tmp_path / "a.safetensors")


def test_reading_examples_hold_gold_among_look_alikes():
    ds, _ = make_dataset("train", 200, 200, seed=3, max_facts=4)
    examples = reading_examples(ds, random.Random(0), max_notes=8, abstain=0.2)
    assert len(examples) > 150
    missing = [ex for ex in examples if ex.target == NOT_IN_NOTES]
    assert 0.1 < len(missing) / len(examples) < 0.3
    for ex in examples:
        numbers = [n for n, _ in ex.notes]
        assert len(set(numbers)) == len(numbers) and 1 <= len(ex.notes) <= 8
        if ex.target != NOT_IN_NOTES:
            assert ex.answer in ex.target and any(ex.answer in text for _, text in ex.notes)


def test_unanswerable_questions_hold_their_near_memories_and_teach_abstaining():
    ds = make_everyday_dataset(300, 300, seed=4)
    unanswerable = abstain_questions(ds, 40, seed=1)
    examples = reading_examples(ds, random.Random(0), max_notes=6, abstain=0.0, unanswerable=unanswerable)
    taught = examples[-len(unanswerable):]
    for ex, (question, near) in zip(taught, unanswerable, strict=True):
        texts = [t for _, t in ex.notes]
        assert ex.question == question and ex.target == NOT_IN_NOTES and 1 <= len(texts) <= 6
        assert ds.memories[near[0]] in texts  # the memory about the same subject is among the notes
    answerable = examples[: -len(unanswerable)]
    assert all(ex.target != NOT_IN_NOTES and any(ex.answer.lower() in t.lower() for _, t in ex.notes)
               for ex in answerable)


def test_training_steps_lower_the_reading_loss(checkpoint):
    model = MSAModel.from_pretrained(checkpoint("llama"))
    for p in model.transformer.parameters():
        p.requires_grad_(False)
    torch.manual_seed(0)  # the adapter's initialisation, whatever ran before
    model.reader = LoRAAdapter(model.transformer, rank=4)
    ds, _ = make_dataset("train", 30, 30, seed=1, max_facts=2)
    examples = reading_examples(ds, random.Random(0), max_notes=2, abstain=0.0)[:4]
    batch = [tokenize(model, ex) for ex in examples]
    # The packed loss is the token-weighted mean of the examples' own losses.
    with model.reading(), torch.no_grad():
        whole = reading_loss(model, batch)
        counts = [sum(t != -100 for t in labels) for _, labels in batch]
        single = sum(float(reading_loss(model, [b])) * c for b, c in zip(batch, counts, strict=True)) / sum(counts)
    assert abs(float(whole) - single) < 1e-4
    opt = torch.optim.AdamW(list(model.reader.parameters()), lr=1e-2)
    first = None
    for _ in range(8):
        with model.reading():
            loss = reading_loss(model, batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = first if first is not None else float(loss.detach())
    assert float(loss.detach()) < first


def test_cli_train_reader_writes_an_adapter(checkpoint, tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["model", "train-reader", str(checkpoint("qwen3")), "--out", str(out),
                                      "--steps", "2", "--batch-tokens", "2048", "--stores", "1",
                                      "--memories", "20", "--val-questions", "2", "--rank", "2"])
    assert result.exit_code == 0, result.output
    assert (out / READER_FILE).exists() and len((out / "log.jsonl").read_text().splitlines()) == 1
