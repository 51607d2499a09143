"""Query latency over gRPC (loopback) vs the engine in-process, on the same store, side by side.

    python bench/query_latency.py [--device cpu] [--repeats 3] [--max-new-tokens 16]

Store: the demo's 199 notes on the embedded default model; the demo's five questions, text reading,
top_k 4, greedy. Each question runs in-process and over gRPC alternately; prints median time to the
final event and to the first token for both, and the overhead.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import tempfile
import time
from pathlib import Path

from msa.cli.demo import QUESTIONS, demo_memories
from msa.memstore.client import MemoryClient
from msa.memstore.engine import Engine
from msa.memstore.server.config import ServerConfig
from msa.memstore.server.serve import BackgroundServer
from msa.model.api import MSAModel
from msa.model.checkpoints.default import default_model
from msa.model.generate import Token


def in_process(engine: Engine, question: str, **kw) -> tuple[float, float]:
    start, first = time.perf_counter(), None
    for event in engine.query("assistant", question, **kw):
        if first is None and isinstance(event, Token):
            first = time.perf_counter()
    return first - start, time.perf_counter() - start


def over_grpc(client: MemoryClient, question: str, **kw) -> tuple[float, float]:
    start, first = time.perf_counter(), None
    for event in client.query("assistant", question, **kw):
        if first is None and event.WhichOneof("event") == "token":
            first = time.perf_counter()
    return first - start, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--max-new-tokens", type=int, default=16)
    args = ap.parse_args()
    model = MSAModel.from_pretrained(default_model(), device=args.device)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "store"
        engine = Engine.open(path, model, create=True)
        server = BackgroundServer(ServerConfig(store=str(path), listen="127.0.0.1:0"), lambda: engine)
        port = server.start()
        with MemoryClient(f"127.0.0.1:{port}", timeout=600) as client:
            client.create_namespace("assistant")
            client.write("assistant", demo_memories())
            kw = dict(top_k=4, max_new_tokens=args.max_new_tokens, read_mode="text")
            local: list[tuple[float, float]] = []
            remote: list[tuple[float, float]] = []
            for q in QUESTIONS:  # warm-up
                in_process(engine, q, **kw)
            for _ in range(args.repeats):
                for q in QUESTIONS:
                    local.append(in_process(engine, q, **kw))
                    remote.append(over_grpc(client, q, **kw))
        server.stop()

    def median(xs: list[tuple[float, float]], i: int) -> float:
        return 1e3 * statistics.median(x[i] for x in xs)

    print(f"{datetime.date.today()}; {platform.processor() or platform.machine()}, device {args.device}; "
          f"{len(local)} questions each, {args.max_new_tokens} new tokens at most")
    print("| path | first token p50 (ms) | final event p50 (ms) |")
    print("|---|---|---|")
    print(f"| in-process `Engine.query` | {median(local, 0):.1f} | {median(local, 1):.1f} |")
    print(f"| gRPC over loopback | {median(remote, 0):.1f} | {median(remote, 1):.1f} |")
    overhead = [r[1] - lo[1] for r, lo in zip(remote, local, strict=True)]
    print(f"| overhead (paired median) | | {1e3 * statistics.median(overhead):.1f} |")


if __name__ == "__main__":
    main()
