"""Idle and peak RSS of `msa serve` under issue 17's hostile requests, and small Gets' latency meanwhile: the
numbers behind the memory bound in docs/server.md, on a real model instead of the tests' tiny one.

    python bench/hostile_rss.py [--model DIR] [--seconds 60] [--clients 8] [--deadline 10]

Without --model: the embedded default model. The requests: a text-reading Query of top_k 8 over 16 documents of
1,000+ tokens (a prompt filling the context), a 10,000-word Retrieve and a 5,000-word Query under 5 s deadlines,
a 10 MB document, then `--clients` clients sending 650-token Retrieves nonstop for `--seconds` while one client
sends small Gets (`tests/test_cli_server.py` runs the same on the tiny model in CI). Before them, the same text
Query under a `--deadline` that passes inside its prefill: how long the server's CPU stays busy after it.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for tests.test_cli_server

from msa.memstore.client import ClientError, MemoryClient
from msa.model.checkpoints.default import default_model
from msa.proto import memory_pb2 as pb
from tests.test_cli_server import peak_and_current_rss, start_serve

MiB = 2**20


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def busy_after_deadline(client: MemoryClient, pid: int, deadline_s: float) -> float:
    """A text Query whose deadline passes inside its prefill -> seconds the server keeps computing after the
    client got DEADLINE_EXCEEDED (until its CPU time grows by under 5 % of a core over 0.2 s)."""
    try:
        list(client.query("n", "tea", max_new_tokens=2, read_mode="text", top_k=8, timeout=deadline_s))
    except ClientError as e:
        assert e.code == "DEADLINE_EXCEEDED", e
    start, before = time.perf_counter(), cpu_seconds(pid)
    while True:
        time.sleep(0.2)
        now = cpu_seconds(pid)
        if now - before < 0.01:
            return time.perf_counter() - start - 0.2
        before = now


def hostile(client: MemoryClient) -> dict[str, str]:
    """Each request of the issue -> the code it was answered with and how long it took."""
    calls = {
        "text Query, top_k 8 over 16 long documents": lambda: list(client.query(
            "n", "tea", max_new_tokens=2, read_mode="text", top_k=8, timeout=300)),
        "Retrieve of 10,000 words, 5 s deadline": lambda: client._call(
            "Retrieve", pb.RetrieveRequest(namespace="n", query="z " * 10000), timeout=5),
        "Query of 5,000 words, 5 s deadline": lambda: list(client.query("n", "z " * 5000, max_new_tokens=1, timeout=5)),
        "10 MB document": lambda: client.write("n", [{"text": "word " * 2_000_000}]),
    }
    out = {}
    for name, call in calls.items():
        start, code = time.perf_counter(), "OK"
        try:
            call()
        except ClientError as e:
            code = e.code
        out[name] = f"{code} in {time.perf_counter() - start:.1f} s"
    return out


def gets_under_load(target: str, client: MemoryClient, seconds: float, clients: int) -> tuple[list[float], dict]:
    """Small Gets' latencies while `clients` clients send long Retrieves nonstop; -> (latencies, their codes)."""
    stop, codes = threading.Event(), {}

    def ask() -> None:
        with MemoryClient(target, timeout=600) as c:
            while not stop.is_set():
                try:
                    c.retrieve("n", "Which note mentions tea and apple pie? " * 15, top_k=4)
                    codes["OK"] = codes.get("OK", 0) + 1
                except ClientError as e:
                    codes[e.code] = codes.get(e.code, 0) + 1

    askers = [threading.Thread(target=ask) for _ in range(clients)]
    for t in askers:
        t.start()
    latencies, end = [], time.perf_counter() + seconds
    while time.perf_counter() < end:
        start = time.perf_counter()
        client.get("n", "d3")
        latencies.append(time.perf_counter() - start)
        time.sleep(0.05)
    stop.set()
    for t in askers:
        t.join()
    return latencies, codes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="checkpoint directory [the embedded default model]")
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--deadline", type=float, default=10.0, help="seconds, inside the text Query's prefill")
    args = ap.parse_args()
    model = Path(args.model) if args.model else default_model()
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "store"
        subprocess.run([sys.executable, "-m", "msa.cli.main", "init", str(store), "--model", str(model)], check=True)
        proc, target = start_serve(model, store)
        try:
            with MemoryClient(target, timeout=600) as client:
                client.wait_ready(timeout=600)
                client.create_namespace("n")
                written = client.write("n", [{"id": f"d{i}", "text": f"Tea note {i}. " + "apple pie " * 500}
                                             for i in range(16)])
                client.get("n", "d0")
                idle = peak_and_current_rss(proc.pid)[1]
                busy = busy_after_deadline(client, proc.pid, args.deadline)
                answers = hostile(client)
                latencies, codes = gets_under_load(target, client, args.seconds, args.clients)
            peak, now = peak_and_current_rss(proc.pid)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=120)
    ordered = sorted(latencies)
    print(json.dumps({
        "date": str(datetime.date.today()), "model": model.name, "document_tokens": min(r.tokens for r in written),
        "idle_rss_mib": round(idle / MiB), "peak_rss_mib": round(peak / MiB), "end_rss_mib": round(now / MiB),
        "busy_after_deadline_s": round(busy, 2), "hostile": answers, "retrieves": codes, "gets": len(ordered),
        "get_ms": {q: round(1e3 * ordered[min(len(ordered) - 1, int(p * len(ordered)))], 1)
                   for q, p in (("p50", 0.5), ("p99", 0.99), ("max", 1.0))},
    }, indent=2))


if __name__ == "__main__":
    main()
