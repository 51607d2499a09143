"""The gRPC server: MemoryService behind the Gate, standard health and reflection, optional TLS and a
metrics endpoint; NOT_SERVING while the model and index load; graceful stop on SIGTERM / SIGINT.

`serve(config)` runs it in the foreground (`msa serve`); `BackgroundServer` runs it on a thread of its
own (tests, `msa demo`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import signal
import socket
import ssl
import threading
from collections.abc import Callable
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from msa.memstore.engine import Engine
from msa.memstore.errors import InvalidArgument
from msa.memstore.index import parallel
from msa.memstore.server.auth import Tokens
from msa.memstore.server.config import ServerConfig
from msa.memstore.server.gate import Gate
from msa.memstore.server.logs import log
from msa.memstore.server.metrics import Metrics, serve_metrics
from msa.memstore.server.pools import Pool, Pools
from msa.memstore.server.service import MemoryService
from msa.proto import memory_pb2, memory_pb2_grpc

logger = logging.getLogger("msa.server")
SERVICE_NAME = memory_pb2.DESCRIPTOR.services_by_name["MemoryService"].full_name
MB = 1 << 20


def split_address(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise InvalidArgument(f"listen address {address!r} must be host:port (port 0 picks a free one)")
    return host.strip("[]") or "127.0.0.1", int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def tls_credentials(cert: str, key: str) -> grpc.ServerCredentials | None:
    """Server credentials from a PEM certificate chain and its private key (None: neither given), checked to
    belong together before the server starts."""
    if not cert and not key:
        return None
    if not (cert and key):
        raise InvalidArgument("TLS needs both --tls-cert and --tls-key (or neither)")
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
        return grpc.ssl_server_credentials([(Path(key).read_bytes(), Path(cert).read_bytes())])
    except (OSError, ssl.SSLError) as e:
        raise InvalidArgument(f"cannot use the TLS certificate {cert} with key {key}: {e}") from e


def open_engine(config: ServerConfig) -> Engine:
    """The model (embedded default unless `config.model`) and the store at `config.store`, on one device or,
    with `world_size` > 1 or under torchrun, over the ranks of a Memory Parallel job (`Engine.open`)."""
    from msa.model.api import MSAModel
    from msa.model.checkpoints.default import default_model

    if not config.store:
        raise InvalidArgument("no store: pass STORE (msa serve STORE) or set store in the config / MSA_STORE")
    try:
        model = MSAModel.from_pretrained(config.model or default_model(), device=config.device,
                                         dtype=parallel.job_dtype(config.dtype))
    except (OSError, ValueError) as e:
        raise InvalidArgument(f"cannot load the model {config.model or '(the default)'}: {e}; give a checkpoint "
                              "directory (msa model info DIR checks one)") from e
    if not (Path(config.store) / "data.mdb").exists():
        raise InvalidArgument(f"no store at {config.store}; create it with `msa init {config.store}`")
    world = int(os.environ["WORLD_SIZE"]) if parallel.under_torchrun() else config.world_size
    return Engine.open(config.store, model, index_budget_bytes=config.index_budget_mb * MB or None,
                       host_budget_bytes=config.host_budget_mb * MB, cache_budget_bytes=config.cache_mb * MB,
                       world=world, shard_timeout_s=config.shard_timeout_s, write_batch_s=config.write_batch_ms / 1e3,
                       write_batch_documents=config.write_batch_documents)


class MemoryServer:
    """One server's life: `start` binds and serves health at once, `load` brings the engine, `stop`."""

    def __init__(self, config: ServerConfig, engine_factory: Callable[[], Engine] | None = None) -> None:
        self.config, self.engine_factory = config, engine_factory or (lambda: open_engine(config))
        self.tokens = Tokens.load(config.tokens_file) if config.tokens_file else None
        self.metrics = Metrics()
        self.gate = Gate(self.tokens, self.metrics)
        self.health = health.aio.HealthServicer()
        self.service = MemoryService(self.metrics)
        self.engine: Engine | None = None
        self.port = 0

    async def start(self) -> int:
        host, port = split_address(self.config.listen)
        metrics_host = split_address(self.config.metrics_listen)[0] if self.config.metrics_listen else host
        mcp_host = split_address(self.config.mcp_listen)[0] if self.config.mcp_listen else host
        if self.config.mcp_listen and self.config.tls_cert:
            raise InvalidArgument("--mcp-listen bridges to the gRPC port without TLS: serve MCP from a server "
                                  "without --tls-cert, or run `msa mcp` beside the agent")
        for what, where in (("listen", host), ("serve metrics", metrics_host), ("serve MCP", mcp_host)):
            if self.tokens is None and not is_loopback(where):
                raise InvalidArgument(f"refusing to {what} on {where} without a tokens file; give --tokens-file, "
                                      "or use 127.0.0.1")
        self.server = grpc.aio.server(interceptors=[self.gate], maximum_concurrent_rpcs=self.config.max_inflight,
                                      options=[("grpc.max_receive_message_length", 64 * MB)])
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        memory_pb2_grpc.add_MemoryServiceServicer_to_server(self.service, self.server)
        for name in ("", SERVICE_NAME):
            await self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        reflection.enable_server_reflection([SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME],
                                            self.server)
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        credentials = tls_credentials(self.config.tls_cert, self.config.tls_key)
        try:
            self.port = (self.server.add_secure_port(address, credentials) if credentials
                         else self.server.add_insecure_port(address))
        except RuntimeError as e:  # grpc: "Failed to bind"
            raise InvalidArgument(f"cannot listen on {address}: {e}") from e
        if self.port == 0:
            raise InvalidArgument(f"cannot listen on {address}: in use or not permitted")
        await self.server.start()
        if self.config.metrics_listen:
            self.metrics_server = await serve_metrics(self.metrics, *split_address(self.config.metrics_listen))
        if self.config.mcp_listen:
            try:
                self.mcp_port = await self._serve_mcp(host)
            except BaseException:
                await self.server.stop(0)
                if getattr(self, "metrics_server", None):
                    self.metrics_server.close()
                raise
        auth = "bearer tokens" if self.tokens else "no auth (loopback only)"
        log(logger, logging.INFO, "listening", address=f"{host}:{self.port}", auth=auth,
            tls=bool(self.config.tls_cert))
        return self.port

    async def _serve_mcp(self, grpc_host: str) -> int:
        """MCP over streamable HTTP, bridged to this server's own gRPC port; -> the port it listens on."""
        import uvicorn

        from msa.memstore.server.mcp import http_app

        host, port = split_address(self.config.mcp_listen)
        local = "127.0.0.1" if grpc_host in ("0.0.0.0", "::", "") else grpc_host
        target = f"[{local}]:{self.port}" if ":" in local else f"{local}:{self.port}"
        app = http_app(target, self.tokens, host)

        class Embedded(uvicorn.Server):
            def capture_signals(self):  # SIGTERM / SIGINT stay this server's (graceful stop), not uvicorn's
                return contextlib.nullcontext()

        self.mcp_server = Embedded(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on"))
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as e:
            sock.close()
            raise InvalidArgument(f"cannot serve MCP on {self.config.mcp_listen}: {e.strerror or e}") from None
        self.mcp_task = asyncio.create_task(self.mcp_server.serve(sockets=[sock]))
        while not self.mcp_server.started:
            if self.mcp_task.done():
                self.mcp_task.result()  # raises why it could not start
                raise InvalidArgument(f"cannot serve MCP on {self.config.mcp_listen}: in use or not permitted")
            await asyncio.sleep(0.01)
        bound = sock.getsockname()[1]
        log(logger, logging.INFO, "mcp listening", address=f"{host}:{bound}", path="/mcp")
        return bound

    async def load(self) -> None:
        """Open the model and store in a thread (health stays NOT_SERVING meanwhile), then serve."""
        self.engine = await asyncio.to_thread(self.engine_factory)
        c = self.config
        self.pools = Pools(Pool("model", c.max_queries, c.query_queue, "questions"),
                           Pool("scan", c.max_scans, c.scan_queue, "namespace-wide calls"),
                           Pool("write", 1, c.max_inflight, "writes"),  # they take turns on the one writer anyway
                           Pool("ingest", c.max_inflight, c.max_inflight, "writes"))
        self.service.attach(self.engine, self.pools)
        index, cache = self.engine.index, self.engine.cache
        self.metrics.gauge("msa_index_device_bytes", "Routing keys resident on the device.",
                           lambda: index.resident_bytes)
        self.metrics.gauge("msa_index_host_bytes", "Routing keys of streamed namespaces in host memory.",
                           lambda: index.host_bytes)
        self.metrics.gauge("msa_cache_bytes", "Content K/V cached in host memory.", lambda: cache.bytes)
        self.metrics.gauge("msa_cache_hits", "Content K/V cache hits.", lambda: cache.hits)
        self.metrics.gauge("msa_cache_misses", "Content K/V cache misses.", lambda: cache.misses)
        self.gate.state = "serving"
        for name in ("", SERVICE_NAME):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        log(logger, logging.INFO, "serving", model=self.engine.model_name)
        self.watch = asyncio.create_task(self._watch_index())

    async def _watch_index(self, every_s: float = 1.0) -> None:
        """A sharded index that lost a rank (found by a query or by this heartbeat) serves nothing more:
        NOT_SERVING, every call UNAVAILABLE."""
        while (failure := await asyncio.to_thread(self.engine.index_failure)) is None:
            await asyncio.sleep(every_s)
        if self.gate.state == "serving":
            self.gate.state = "failed"
            for name in ("", SERVICE_NAME):
                await self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
            log(logger, logging.ERROR, "index failed", reason=failure)

    async def stop(self) -> None:
        """New requests get UNAVAILABLE; in-flight ones get `grace_s` to finish; then the store closes."""
        if getattr(self, "watch", None):
            self.watch.cancel()
        self.gate.state = "stopping"
        await self.health.enter_graceful_shutdown()
        if getattr(self, "mcp_server", None):  # MCP calls bridge to gRPC: they finish (or stop) first
            self.mcp_server.should_exit = True
            await asyncio.wait([self.mcp_task], timeout=self.config.grace_s)
        log(logger, logging.INFO, "stopping", grace_s=self.config.grace_s)
        await self.server.stop(self.config.grace_s)
        # Calls still running after the grace were cancelled: let them unwind here, not as tracebacks when the
        # event loop closes (their model work stops at its next token or prefill chunk).
        calls = [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()]
        if calls:
            await asyncio.wait(calls, timeout=1.0)
        if getattr(self, "pools", None):
            self.pools.close()
        if getattr(self, "metrics_server", None):
            self.metrics_server.close()
        if self.engine is not None:
            self.engine.close()
        log(logger, logging.INFO, "stopped")


def serve(config: ServerConfig, on_listening: Callable[[int], None] | None = None) -> None:
    """Run until SIGTERM or SIGINT, then stop gracefully."""

    async def main() -> None:
        server = MemoryServer(config)
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)
        port = await server.start()
        if on_listening:
            on_listening(port)
        loading = asyncio.create_task(server.load())
        await asyncio.wait([loading, asyncio.create_task(stopping.wait())], return_when=asyncio.FIRST_COMPLETED)
        if loading.done() and loading.exception():
            await server.stop()
            raise loading.exception()
        await stopping.wait()
        await server.stop()

    asyncio.run(main())


class BackgroundServer:
    """A MemoryServer on its own thread and event loop: `start()` -> port once serving; `stop()`."""

    def __init__(self, config: ServerConfig, engine_factory: Callable[[], Engine] | None = None) -> None:
        self.server = MemoryServer(config, engine_factory)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self, wait_loaded: bool = True) -> int:
        self.thread.start()
        port = asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result()
        loading = asyncio.run_coroutine_threadsafe(self.server.load(), self.loop)
        if wait_loaded:
            loading.result()
        self.loading = loading
        return port

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
