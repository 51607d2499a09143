"""Teaching the reader: a LoRA adapter fine-tuned to answer from notes (the LM-loss phase, backbone frozen).

Each example is a text-mode prompt (`text_mode_prompt`) holding 1..max_notes generated memories (profiles of
people and everyday agent memories), the gold one among look-alikes that share words with it and the question,
and as the answer the gold note's sentence that states the fact, naming its subject (copying evidence carries
over to relations never seen). Questions whose answer no note holds (the gold left out, or asked about a fact no
memory states) teach the answer "The notes do not say." The loss is cross-entropy on the answer tokens only;
the examples of a step are packed into one sequence.
"""

from __future__ import annotations

import itertools
import json
import math
import random
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from msa.model.api import MSAModel
from msa.model.decoder import Attention, PackedCausal, Rope
from msa.model.lora import READER_FILE, LoRAAdapter
from msa.model.prompts import text_mode_prompt
from msa.model.train.everyday import abstain_questions, make_everyday_dataset
from msa.model.train.synthetic import Dataset, make_dataset

NOT_IN_NOTES = "The notes do not say."
IGNORE = -100
WORD = re.compile(r"[a-z0-9]{3,}")


@dataclass(frozen=True)
class ReaderExample:
    question: str
    notes: list[tuple[int, str]]  # (document number, text), in prompt order
    answer: str  # the string a correct reply contains
    target: str  # what training teaches the reader to reply


@dataclass(frozen=True)
class ReaderConfig:
    steps: int = 600
    batch_tokens: int = 16384  # tokens per step
    lr: float = 2e-4
    warmup: int = 30
    rank: int = 16
    alpha: float = 32.0
    max_notes: int = 12
    abstain: float = 0.0  # fraction of examples without their gold note (taught to say so)
    stores: int = 8  # training stores of generated profiles (odd ones short: 1-3 sentences)
    everyday_stores: int = 8  # training stores of everyday agent memories (msa.model.train.everyday)
    unanswerable: float = 0.0  # unanswerable questions per everyday memory (taught to say so)
    memories: int = 1000
    seed: int = 0


def look_alikes(memories: list[str]) -> Callable[[str, int], list[int]]:
    """`similar(question, gold)` -> memory numbers sharing the most words with the question and the gold memory
    (what a retriever would confuse with it), best first, without the gold."""
    words = [set(WORD.findall(m.lower())) for m in memories]
    index: dict[str, list[int]] = {}
    for i, ws in enumerate(words):
        for w in ws:
            index.setdefault(w, []).append(i)

    def similar(question: str, gold: int) -> list[int]:
        counts: dict[int, int] = {}
        for w in set(WORD.findall(question.lower())) | (words[gold] if gold >= 0 else set()):
            postings = index.get(w, ())
            if len(postings) > len(memories) // 10:  # a word in a tenth of the memories says little
                continue
            for i in postings:
                counts[i] = counts.get(i, 0) + 1
        return sorted((i for i in counts if i != gold), key=lambda i: (-counts[i], i))

    return similar


def reading_examples(ds: Dataset, rng: random.Random, max_notes: int, abstain: float,
                     unanswerable: list[tuple[str, tuple[int, ...]]] = ()) -> list[ReaderExample]:
    """One example per single-hop question: the gold note among 0..max_notes-1 distractors (half of them
    look-alikes), in random order; an `abstain` share leave the gold out. Each `unanswerable` question (asked
    about a subject whose memories never state it) gets its near memories and look-alikes as notes. Both
    kinds are taught to answer NOT_IN_NOTES."""
    similar = look_alikes(ds.memories)
    out = []

    def example(question: str, gold: int, answer: str, target: str, near: tuple[int, ...] = ()) -> None:
        """n notes: the gold (unless the target is NOT_IN_NOTES), look-alikes (near ones first), random others."""
        n = rng.randint(1, max_notes)
        others = n - 1 if target != NOT_IN_NOTES else n
        alike = list(dict.fromkeys([i for i in near if i != gold] + similar(question, gold)[: 2 * n]))
        chosen = alike[: max(min(len(near), others), n // 2)]
        while len(chosen) < others and len(chosen) < len(ds.memories) - 1:
            i = rng.randrange(len(ds.memories))
            if i != gold and i not in chosen:
                chosen.append(i)
        rng.shuffle(chosen)
        if target != NOT_IN_NOTES:
            chosen.insert(rng.randint(0, len(chosen)), gold)
        if chosen:
            numbers = rng.sample(range(len(ds.memories)), len(chosen))
            notes = [(num, ds.memories[i]) for num, i in zip(numbers, chosen, strict=True)]
            out.append(ReaderExample(question, notes, answer, target))

    for e in ds.examples:
        if e.hops == 1:
            missing = rng.random() < abstain
            example(e.question, e.gold[0], NOT_IN_NOTES if missing else e.answer,
                    NOT_IN_NOTES if missing else e.evidence)
    for question, near in unanswerable:
        example(question, -1, NOT_IN_NOTES, NOT_IN_NOTES, near)
    return out


def training_examples(cfg: ReaderConfig) -> list[ReaderExample]:
    """Examples from `cfg.stores` generated-people stores (training split) and `cfg.everyday_stores` everyday
    stores; `cfg.unanswerable` questions per everyday memory ask what its subject's memories never state."""
    rng = random.Random(cfg.seed)
    examples = []
    for s in range(cfg.stores):
        ds, _ = make_dataset("train", cfg.memories, cfg.memories, seed=10_000 + cfg.seed * 100 + s,
                             max_facts=3 if s % 2 else 20)
        examples += reading_examples(ds, rng, cfg.max_notes, cfg.abstain)
    for s in range(cfg.everyday_stores):
        ds = make_everyday_dataset(cfg.memories, cfg.memories, seed=20_000 + cfg.seed * 100 + s)
        unanswerable = abstain_questions(ds, round(cfg.unanswerable * cfg.memories), seed=s)
        examples += reading_examples(ds, rng, cfg.max_notes, cfg.abstain, unanswerable)
    rng.shuffle(examples)
    return examples


def tokenize(model: MSAModel, ex: ReaderExample) -> tuple[list[int], list[int]]:
    """-> (token ids of prompt + answer + end of turn, labels: IGNORE on the prompt)."""
    tok = model.tokenizer
    prompt = tok.encode(text_mode_prompt(tok, ex.question, ex.notes))
    answer = [*tok.encode(ex.target), end_of_turn(model)]
    return prompt + answer, [IGNORE] * len(prompt) + answer


def end_of_turn(model: MSAModel) -> int:
    """The stop token a reply ends with: the tokenizer's eos (<|im_end|> for chat models) if it stops."""
    eos = model.tokenizer.token_id(model.tokenizer.eos_token) if model.tokenizer.eos_token else None
    return eos if eos in model.stop_ids else min(model.stop_ids)


def batches(model: MSAModel, examples: list[ReaderExample], batch_tokens: int
                   ) -> Iterator[list[tuple[list[int], list[int]]]]:
    """Endless batches of tokenized examples, each at most `batch_tokens` long in total."""
    while True:
        batch, total = [], 0
        for ex in examples:
            ids, labels = tokenize(model, ex)
            if len(ids) > batch_tokens:
                continue
            if total + len(ids) > batch_tokens:
                yield batch
                batch, total = [], 0
            batch.append((ids, labels))
            total += len(ids)


class PackedCausalMixer:
    """Causal attention within each example of a packed training batch."""

    def __init__(self, cu_seqlens: Tensor) -> None:
        self.attend = PackedCausal(cu_seqlens)

    def __call__(self, layer: int, attn: Attention, h: Tensor, rope: Rope) -> Tensor:
        return self.attend(*attn.project(h, rope), attn.scale)


def reading_loss(model: MSAModel, batch: list[tuple[list[int], list[int]]]) -> Tensor:
    """Mean cross-entropy over the answer tokens of the batch, all examples in one packed forward."""
    device = model.device
    ids = [t for ids, _ in batch for t in ids]
    labels = [t for _, labels in batch for t in [*labels[1:], IGNORE]]  # token t predicts t + 1 of its example
    positions = [p for ids_i, _ in batch for p in range(len(ids_i))]
    cu_seqlens = torch.tensor([0, *itertools.accumulate(len(ids_i) for ids_i, _ in batch)], device=device)
    y = torch.tensor(labels, device=device)
    keep = y != IGNORE
    mixer = PackedCausalMixer(cu_seqlens)
    hidden = model.transformer.hidden_states(torch.tensor(ids, device=device), torch.tensor(positions, device=device),
                                             mixer)  # [T, hidden]
    logits = model.transformer.lm_head(hidden[keep]).float()  # [A, V]
    return F.cross_entropy(logits, y[keep])


def answer_rate(model: MSAModel, examples: list[ReaderExample], max_new_tokens: int = 32) -> float:
    """Fraction of examples whose reply contains the answer (case-insensitive)."""
    hits = sum(ex.answer.lower() in model.read(ex.question, ex.notes, max_new_tokens).lower() for ex in examples)
    return hits / max(1, len(examples))


def validation_sets(n: int, seed: int = 0) -> dict[str, list[ReaderExample]]:
    """Held-out relations, templates and names: the gold note alone, among 12, and missing."""
    if n == 0:
        return {}
    ds, _ = make_dataset("heldout", 1000, 2 * n, seed=50_000 + seed)
    single = Dataset(ds.memories, [e for e in ds.examples if e.hops == 1][:n])
    return {
        "gold_only": reading_examples(single, random.Random(1), 1, 0.0),
        "among_12": [ex for ex in reading_examples(single, random.Random(2), 12, 0.0) if len(ex.notes) > 1],
        "missing": reading_examples(single, random.Random(3), 4, 1.0),
    }


def train_reader(model: MSAModel, out: Path, cfg: ReaderConfig, val: dict[str, list[ReaderExample]],
                 on_step: Callable[[int, float], None] | None = None,
                 on_eval: Callable[[dict], None] | None = None) -> LoRAAdapter:
    """Fine-tune a new reader adapter on `model` (backbone frozen) into OUT/reader_adapter.safetensors;
    held-out answer rates after training go to OUT/log.jsonl (bench/answer_accuracy.py and
    bench/reading_sets.py compare with the base reader side by side)."""
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    for p in model.transformer.parameters():
        p.requires_grad_(False)
    adapter = LoRAAdapter(model.transformer, cfg.rank, cfg.alpha)
    model.reader = adapter
    log = (out / "log.jsonl").open("a")

    def evaluate(step: int, loss: float) -> None:
        with torch.no_grad():
            rates = {name: answer_rate(model, exs) for name, exs in val.items()}
        record = {"step": step, "loss": loss, "time": time.time(), "answer_rate": rates, "config": asdict(cfg)}
        log.write(json.dumps(record) + "\n")
        log.flush()
        if on_eval:
            on_eval(record)

    opt = torch.optim.AdamW(list(adapter.parameters()), lr=cfg.lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / cfg.warmup)
                                              * 0.5 * (1 + math.cos(math.pi * min(1.0, s / cfg.steps))))
    stream = batches(model, training_examples(cfg), cfg.batch_tokens)
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if model.device.type == "cuda" else torch.autocast(
        "cpu", enabled=False)
    loss = float("nan")
    for step in range(cfg.steps):
        with adapter.active(), amp:
            value = reading_loss(model, next(stream))
        opt.zero_grad(set_to_none=True)
        value.backward()
        torch.nn.utils.clip_grad_norm_(list(adapter.parameters()), 1.0)
        opt.step()
        sched.step()
        loss = float(value.detach())
        if on_step:
            on_step(step, loss)
    adapter.save(out / READER_FILE, {"steps": str(cfg.steps), "seed": str(cfg.seed)})
    if any(val.values()):
        evaluate(cfg.steps, loss)
    log.close()
    return adapter
