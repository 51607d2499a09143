"""What int8 decoding gives on the CPU: the default model in bf16 with dense weights everywhere, and with its
one-token forwards (the merged reader's linear layers and the head) through int8 per-channel copies
(`MSAModel.from_pretrained(int8_decoding=True)`, the bf16 CPU default; `model/int8.py`); prefill, encoding
and routing stay bf16 in both.

    python bench/int8_decode.py [--memories 200] [--questions 16]

Prints decode ms per token (median over questions) for both and how many answers are identical.
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import time

import torch

from msa.model.api import MSAModel
from msa.model.checkpoints.default import default_model
from msa.model.memory import Memory
from msa.model.train.synthetic import make_dataset


def answers(model: MSAModel, memory: Memory, examples) -> tuple[list[str], float]:
    """Replies (up to 32 tokens) and the median decode ms per token (the answer less its first token)."""
    replies, per_token = [], []
    for ex in examples:
        start = time.perf_counter()
        model.generate(ex.question, memory, max_new_tokens=1)
        first = time.perf_counter() - start
        start = time.perf_counter()
        result = model.generate(ex.question, memory, max_new_tokens=32)
        whole = time.perf_counter() - start
        replies.append(result.answer)
        per_token.append((whole - first) / max(1, len(result.token_ids) - 1))
    return replies, 1e3 * statistics.median(per_token)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--memories", type=int, default=200)
    ap.add_argument("--questions", type=int, default=16)
    args = ap.parse_args()
    dense = MSAModel.from_pretrained(default_model(), dtype="bfloat16", int8_decoding=False)
    ds, _ = make_dataset("heldout", args.memories, args.questions, seed=1)
    memory = Memory(dense.encode_documents(ds.memories))
    shipped, shipped_ms = answers(dense, memory, ds.examples)
    del dense
    int8, int8_ms = answers(MSAModel.from_pretrained(default_model(), dtype="bfloat16", int8_decoding=True),
                            memory, ds.examples)
    same = sum(a == b for a, b in zip(shipped, int8, strict=True))
    print(f"{os.cpu_count()} cores, torch {torch.__version__}, {datetime.date.today()}, {args.memories} memories")
    print(f"bf16 decode {shipped_ms:.1f} ms/token; int8 decode {int8_ms:.1f} ms/token; "
          f"same answers {same}/{len(shipped)}")


if __name__ == "__main__":
    main()
