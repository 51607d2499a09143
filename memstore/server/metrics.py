"""Prometheus text metrics: requests and latency per rpc, query phase times, cache hits, resident bytes.

Plain counters kept in-process and rendered in the text exposition format (version 0.0.4) by a tiny
HTTP endpoint (`serve_metrics`), so no client library is needed.
"""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict
from collections.abc import Callable

BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Metrics:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: dict[tuple[str, str], int] = defaultdict(int)  # (rpc, code) -> count
        self.latency: dict[str, list[int]] = defaultdict(lambda: [0] * (len(BUCKETS_S) + 1))
        self.latency_sum: dict[str, float] = defaultdict(float)
        self.phase_ms: dict[str, float] = defaultdict(float)  # query phase -> total ms
        self.queries = 0
        self.gauges: dict[str, tuple[str, Callable[[], float]]] = {}  # name -> (help, read)

    def observe(self, rpc: str, code: str, seconds: float) -> None:
        with self.lock:
            self.requests[(rpc, code)] += 1
            counts = self.latency[rpc]
            counts[next((i for i, b in enumerate(BUCKETS_S) if seconds <= b), len(BUCKETS_S))] += 1
            self.latency_sum[rpc] += seconds

    def query_phases(self, timings_ms: dict[str, float]) -> None:
        with self.lock:
            self.queries += 1
            for phase, ms in timings_ms.items():
                self.phase_ms[phase] += ms

    def gauge(self, name: str, help_text: str, read: Callable[[], float]) -> None:
        self.gauges[name] = (help_text, read)

    def render(self) -> str:
        with self.lock:
            lines = ["# HELP msa_requests_total Requests by rpc and status code.", "# TYPE msa_requests_total counter"]
            lines += [f'msa_requests_total{{rpc="{r}",code="{c}"}} {n}' for (r, c), n in sorted(self.requests.items())]
            lines += ["# HELP msa_request_seconds Request latency by rpc.", "# TYPE msa_request_seconds histogram"]
            for rpc, counts in sorted(self.latency.items()):
                total = 0
                for bound, n in zip([*map(str, BUCKETS_S), "+Inf"], counts, strict=True):
                    total += n
                    lines.append(f'msa_request_seconds_bucket{{rpc="{rpc}",le="{bound}"}} {total}')
                lines.append(f'msa_request_seconds_sum{{rpc="{rpc}"}} {self.latency_sum[rpc]:.6f}')
                lines.append(f'msa_request_seconds_count{{rpc="{rpc}"}} {total}')
            lines += ["# HELP msa_query_phase_milliseconds_total Time spent per query phase.",
                      "# TYPE msa_query_phase_milliseconds_total counter"]
            lines += [f'msa_query_phase_milliseconds_total{{phase="{p}"}} {ms:.3f}'
                      for p, ms in sorted(self.phase_ms.items())]
            lines += ["# TYPE msa_queries_total counter", f"msa_queries_total {self.queries}"]
        for name, (help_text, read) in sorted(self.gauges.items()):
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", f"{name} {read()}"]
        return "\n".join(lines) + "\n"


async def serve_metrics(metrics: Metrics, host: str, port: int) -> asyncio.Server:
    """GET /metrics over plain HTTP/1.0 (anything else: 404)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), 5)
            while (await asyncio.wait_for(reader.readline(), 5)) not in (b"\r\n", b"\n", b""):
                pass
            ok = request.split(b" ")[1:2] == [b"/metrics"]
            body = metrics.render().encode() if ok else b"not found; try /metrics\n"
            status = b"200 OK" if ok else b"404 Not Found"
            writer.write(b"HTTP/1.0 " + status + b"\r\nContent-Type: text/plain; version=0.0.4\r\n"
                         + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            await writer.drain()
        except (asyncio.TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, host, port)
