"""Does the routing score tell an answerable question from one whose memory is absent? (issue 16)

An abstention rule on the router's own scores would need the best memory of an absent question to score lower
than an answerable question's. For each set: the ROC AUC of three signals, P(answerable scores higher than
absent) with ties counting half: the top score (mean over router layers, as text reading ranks), the gap
between the first and second, and between the first and fifth. 0.5 is no signal; a threshold rule needs ~0.9.

    python bench/abstention_signal.py [--sets gen-dev-100 handwritten gen-100] [--checkpoint DIR]
"""

from __future__ import annotations

import argparse
import datetime
from pathlib import Path

from msa.eval import sets
from msa.eval.metrics import question_lists
from msa.model.api import MSAModel
from msa.model.checkpoints.default import default_model
from msa.model.memory import Memory

SIGNALS = ("top score", "gap to 2nd", "gap to 5th")


def auc(answerable: list[float], absent: list[float]) -> float:
    wins = sum((a > b) + 0.5 * (a == b) for a in answerable for b in absent)
    return wins / (len(answerable) * len(absent))


def signals(model: MSAModel, memory: Memory, question: str) -> tuple[float, float, float]:
    scores = [s for _, s in model.route(question, memory, read_mode="text").ranking()[:5]]
    return scores[0], scores[0] - scores[1], scores[0] - scores[4]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", nargs="+", default=["gen-dev-100", "handwritten", "gen-100"])
    ap.add_argument("--checkpoint", type=Path, help="default: the embedded default model")
    args = ap.parse_args()
    model = MSAModel.from_pretrained(args.checkpoint or default_model())
    print(f"{datetime.date.today()}; CPU")
    print("| set | answerable / absent | " + " | ".join(f"AUC of {s}" for s in SIGNALS) + " |")
    print("|---|---|" + "---|" * len(SIGNALS))
    for name in args.sets:
        es = sets.load(name)
        questions, _ = question_lists(es)
        memory = Memory(model.encode_documents([t for _, t in es.memories]))
        rows = [signals(model, memory, q) for q in questions]
        n = len(es.questions)
        aucs = [auc([r[i] for r in rows[:n]], [r[i] for r in rows[n:]]) for i in range(len(SIGNALS))]
        print(f"| {name} | {n} / {len(rows) - n} | " + " | ".join(f"{a:.3f}" for a in aucs) + " |", flush=True)


if __name__ == "__main__":
    main()
