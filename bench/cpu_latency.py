"""CPU throughput of the model path: memory encoding (tokens/s) and answer latency (p50 / p95).

    python bench/cpu_latency.py [--checkpoint PATH] [--memories 100 1000] [--questions 20]

Memories are generated held-out profiles held in RAM (`msa.model.memory.Memory`); each answer routes the question,
reads the checkpoint's reading mode with its top-k and decodes up to --max-new-tokens greedily.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import time

import torch

from msa.model.api import MSAModel
from msa.model.default import default_model
from msa.model.memory import Memory
from msa.model.synthetic import make_dataset


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", help="checkpoint directory (default: the embedded default model)")
    ap.add_argument("--memories", type=int, nargs="+", default=[100, 1000])
    ap.add_argument("--questions", type=int, default=20)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    args = ap.parse_args()
    path = args.checkpoint or default_model()
    model = MSAModel.from_pretrained(path)
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {datetime.date.today()}; checkpoint {path}")
    print(f"reading mode {model.config.msa.read_mode}, top_k {model.config.msa.doc_top_k}, "
          f"max_new_tokens {args.max_new_tokens}")
    print("| memories | encode tokens/s | answer p50 (s) | answer p95 (s) | generated tokens/answer |")
    print("|---|---|---|---|---|")
    for n in args.memories:
        ds, _ = make_dataset("heldout", n, args.questions, seed=1)
        start = time.perf_counter()
        docs = model.encode_documents(ds.memories)
        encode_s = time.perf_counter() - start
        tokens = sum(len(d.token_ids) for d in docs)
        memory = Memory(docs)
        latencies, generated = [], []
        for example in ds.examples:
            start = time.perf_counter()
            result = model.generate(example.question, memory, max_new_tokens=args.max_new_tokens)
            latencies.append(time.perf_counter() - start)
            generated.append(len(result.token_ids))
        print(f"| {n} | {tokens / encode_s:,.0f} | {percentile(latencies, 0.5):.2f} | "
              f"{percentile(latencies, 0.95):.2f} | {statistics.mean(generated):.1f} |")


if __name__ == "__main__":
    main()
