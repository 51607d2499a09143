"""Out-of-distribution evaluation: routing recall and answers on memories never used in training or tuning,
beside BM25 and MiniLM-L6 exact cosine with the same reader and the same number of notes.

    python bench/ood_eval.py --save-baselines bench/ood_baselines.json     # BM25 / MiniLM rankings (CPU)
    python bench/ood_eval.py [--checkpoint DIR ...] [--sets handwritten gen-100 gen-1000 gen-10000]
                             [--answers] [--top-k 1 2 4] [--baselines FILE] [--device cuda] [--json OUT]

Sets (eval/sets/README.md): `handwritten` (320 hand-written agent memories) and `gen-N` (a generator written
separately from every training generator). Recall@k: the gold memory among the top k of the ranking that
text reading uses. Answers: a reply is right when it contains an accepted answer; our model answers through
`generate` (its own routing), a baseline through `read` on its top k notes (best last, as `generate` places
them). `CKPT+bm25 (rrf)`: recall of our ranking fused with a baseline's (a hybrid). Absent questions (their
answer is in no memory): the share answered "don't know" (abstained) beside the share of answerable questions
wrongly abstained on. `gold` = the reader given only the right memory.
"""

from __future__ import annotations

import argparse
import datetime
import json
from pathlib import Path

import torch

from msa.eval import sets
from msa.eval.retrieval import READERS, baseline_rankings, evaluate_set, print_tables
from msa.model.api import MSAModel
from msa.model.checkpoints.default import default_model


def save_baselines(names: list[str], path: Path) -> None:
    """Rank the named sets with every baseline into `path` (other sets already saved there are kept)."""
    out = json.loads(path.read_text()) if path.exists() else {}
    for name in names:
        es = sets.load(name)
        out[name] = baseline_rankings(es)
        print(f"{name}: {len(es.memories)} memories ranked", flush=True)
    path.write_text(json.dumps(out))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", type=Path, nargs="*", help="default: the embedded default model")
    ap.add_argument("--sets", nargs="+", default=["handwritten", "gen-100", "gen-1000", "gen-10000"])
    ap.add_argument("--answers", action="store_true", help="also answer every question (slow on CPU)")
    ap.add_argument("--top-k", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--readers", nargs="+", choices=READERS, default=list(READERS),
                    help="with --answers: whose notes to answer from")
    ap.add_argument("--baselines", type=Path, help="rankings saved by --save-baselines (else computed here)")
    ap.add_argument("--save-baselines", type=Path, help="rank every set with BM25 and MiniLM into this file")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", type=Path, help="append every result row to this JSON-lines file")
    args = ap.parse_args()
    if args.save_baselines:
        save_baselines(args.sets, args.save_baselines)
        return
    saved = json.loads(args.baselines.read_text()) if args.baselines else {}
    device_name = torch.cuda.get_device_name() if args.device == "cuda" else "CPU"
    print(f"{datetime.date.today()}; {args.device} ({device_name})")
    rows = []
    for path in args.checkpoint or [default_model()]:
        model = MSAModel.from_pretrained(path, device=args.device)
        for name in args.sets:
            es = sets.load(name)
            if name not in saved:
                saved[name] = baseline_rankings(es)
            for row in evaluate_set(model, path.name, es, saved[name], args.top_k, args.answers,
                                    args.max_new_tokens, tuple(args.readers)):
                rows.append(row)
                if args.json:
                    with args.json.open("a") as f:
                        f.write(json.dumps(row | {"checkpoint": str(path), "date": str(datetime.date.today()),
                                                  "device": device_name}) + "\n")
    print_tables(rows)


if __name__ == "__main__":
    main()
