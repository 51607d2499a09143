"""Hand-written reading sets (tests/reading_facts.py, 2 x 12 one-sentence facts): questions answered with
every memory in context (top_k 12) and with the routed one (top_k 1), with and without the reader adapter.

    python bench/reading_sets.py [--checkpoint PATH] [--device cuda] [--dtype bfloat16+int8]
"""

from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for tests and bench

from bench.model_spec import load_spec
from msa.model.checkpoints.default import default_model
from msa.model.memory import Memory
from tests.reading_facts import SET_A, SET_B


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", help="checkpoint directory (default: the embedded default model)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32", help="DTYPE or DTYPE+int8 (int8 decoding)")
    args = ap.parse_args()
    path = args.checkpoint or default_model()
    model = load_spec(path, args.dtype, args.device)
    readers = {"adapter": model.reader, "base": None} if model.reader else {"base": None}
    print(f"{datetime.date.today()}; {args.device}, {args.dtype}; checkpoint {path}")
    print("| reader | set | top_k | answered | gold ranked first |")
    print("|---|---|---|---|---|")
    for name, reader in readers.items():
        model.reader = reader
        for label, facts in (("A", SET_A), ("B", SET_B)):
            memory = Memory(model.encode_documents([f for f, _, _ in facts]))
            for k in (12, 1):
                hits = first = 0
                for gold, (_, question, answer) in enumerate(facts):
                    result = model.generate(question, memory, top_k=k, max_new_tokens=24)
                    hits += answer.lower() in result.text.lower()
                    first += result.routing.ranking()[0][0] == gold
                print(f"| {name} | {label} | {k} | {hits}/12 | {first}/12 |", flush=True)


if __name__ == "__main__":
    main()
