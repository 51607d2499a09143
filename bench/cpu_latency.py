"""CPU throughput of the model path: memory encoding (tokens/s), routing and answer latency (p50 / p95).

    python bench/cpu_latency.py [--checkpoints PATH ...] [--dtypes float32 bfloat16 bfloat16+int8] [--top-k 1 4]
                                [--memories 100 1000] [--questions 20]

Memories are generated held-out profiles held in RAM (`msa.model.memory.Memory`); each answer routes the question,
reads the checkpoint's reading mode with the given top-k (default: the checkpoint's) and decodes up to
--max-new-tokens greedily. Several checkpoints or dtypes are measured side by side: each question runs on each
in turn; `same answers` is the share of answers identical to the first configuration's.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for bench.model_spec

from bench.model_spec import load_spec
from msa.eval.metrics import percentile
from msa.model.checkpoints.default import default_model
from msa.model.memory import Memory
from msa.model.train.synthetic import make_dataset


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoints", nargs="+", help="checkpoint directories (default: the embedded default model)")
    ap.add_argument("--top-k", type=int, nargs="+", help="notes read per answer (default: each checkpoint's)")
    ap.add_argument("--memories", type=int, nargs="+", default=[100, 1000])
    ap.add_argument("--dtypes", nargs="+", default=["float32"],
                    help="each checkpoint's configurations: DTYPE or DTYPE+int8 (int8 decoding)")
    ap.add_argument("--questions", type=int, default=20)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--answers", help="write every answer here (JSON lines), to compare runs of other code")
    args = ap.parse_args()
    paths = args.checkpoints or [default_model()]
    models = {f"{os.path.basename(p)}/{d}": load_spec(p, d) for p in paths for d in args.dtypes}
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {datetime.date.today()}, max_new_tokens {args.max_new_tokens}")
    for p, m in models.items():
        adapters = [name for name, a in (("routing", m.router_adapter), ("reader", m.reader)) if a is not None]
        print(f"- {p}: reading mode {m.config.msa.read_mode}, top_k {m.config.msa.doc_top_k}, "
              f"adapters {', '.join(adapters) or 'none'}")
    print("| checkpoint | memories | top_k | encode tokens/s | route p50 (ms) | answer p50 (s) | answer p95 (s) | "
          "generated tokens/answer | same answers |")
    print("|---|---|---|---|---|---|---|---|---|")
    for n in args.memories:
        ds, _ = make_dataset("heldout", n, args.questions, seed=1)
        memories, encode_rate = {}, {}
        for p, m in models.items():
            start = time.perf_counter()
            docs = m.encode_documents(ds.memories)
            encode_rate[p] = sum(len(d.token_ids) for d in docs) / (time.perf_counter() - start)
            memories[p] = Memory(docs)
        for k in args.top_k or [None]:
            routes = {p: [] for p in models}
            answers = {p: [] for p in models}
            generated = {p: [] for p in models}
            texts = {p: [] for p in models}
            for example in ds.examples:
                for p, m in models.items():
                    start = time.perf_counter()
                    m.route(example.question, memories[p], top_k=k)
                    routes[p].append(time.perf_counter() - start)
                    start = time.perf_counter()
                    result = m.generate(example.question, memories[p], max_new_tokens=args.max_new_tokens, top_k=k)
                    answers[p].append(time.perf_counter() - start)
                    generated[p].append(len(result.token_ids))
                    texts[p].append(result.answer)
            first = texts[next(iter(models))]
            if args.answers:
                with open(args.answers, "a") as f:
                    for p in models:
                        f.write(json.dumps({"config": p, "memories": n, "top_k": k, "answers": texts[p]}) + "\n")
            for p, m in models.items():
                same = sum(a == b for a, b in zip(texts[p], first, strict=True)) / len(first)
                print(f"| {p} | {n} | {k or m.config.msa.doc_top_k} | {encode_rate[p]:,.0f} | "
                      f"{1e3 * percentile(routes[p], 0.5):.0f} | {percentile(answers[p], 0.5):.2f} | "
                      f"{percentile(answers[p], 0.95):.2f} | {statistics.mean(generated[p]):.1f} | {same:.2f} |",
                      flush=True)


if __name__ == "__main__":
    main()
