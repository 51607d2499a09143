"""Prometheus metrics through `prometheus-client`: requests and latency per rpc, query phase times, and gauges
read when scraped (index and cache bytes, cache hits). One registry per server, served at GET /metrics by a
tiny asyncio endpoint (`serve_metrics`).

Names (stable; docs/server.md): `msa_requests_total{rpc,code}`, `msa_request_seconds{rpc}` (histogram),
`msa_query_phase_milliseconds_total{phase}`, `msa_queries_total`, and each gauge by the name it is given.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("msa_requests", "Requests by rpc and status code.", ["rpc", "code"],
                                registry=self.registry)
        self.latency = Histogram("msa_request_seconds", "Request latency by rpc.", ["rpc"], buckets=BUCKETS_S,
                                 registry=self.registry)
        self.phase_ms = Counter("msa_query_phase_milliseconds", "Time spent per query phase.", ["phase"],
                                registry=self.registry)
        self.queries = Counter("msa_queries", "Queries answered.", registry=self.registry)

    def observe(self, rpc: str, code: str, seconds: float) -> None:
        self.requests.labels(rpc, code).inc()
        self.latency.labels(rpc).observe(seconds)

    def query_phases(self, timings_ms: dict[str, float]) -> None:
        self.queries.inc()
        for phase, ms in timings_ms.items():
            self.phase_ms.labels(phase).inc(max(0.0, ms))

    def gauge(self, name: str, help_text: str, read: Callable[[], float]) -> None:
        """A gauge read when scraped."""
        Gauge(name, help_text, registry=self.registry).set_function(read)

    def render(self) -> bytes:
        return generate_latest(self.registry)


async def serve_metrics(metrics: Metrics, host: str, port: int) -> asyncio.Server:
    """GET /metrics over plain HTTP/1.0 (anything else: 404)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), 5)
            while (await asyncio.wait_for(reader.readline(), 5)) not in (b"\r\n", b"\n", b""):
                pass
            ok = request.split(b" ")[1:2] == [b"/metrics"]
            body = metrics.render() if ok else b"not found; try /metrics\n"
            status = b"200 OK" if ok else b"404 Not Found"
            kind = CONTENT_TYPE_LATEST if ok else "text/plain"
            writer.write(b"HTTP/1.0 " + status + f"\r\nContent-Type: {kind}\r\n".encode()
                         + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            await writer.drain()
        except (asyncio.TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, host, port)
