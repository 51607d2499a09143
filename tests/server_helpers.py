"""A live server on 127.0.0.1:0 over a real store and a tiny random model, and a client for it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from msa.memstore.client import ClientError, MemoryClient
from msa.memstore.engine import Engine
from msa.memstore.server.config import ServerConfig
from msa.memstore.server.serve import BackgroundServer
from msa.model.api import MSAModel

FACTS = {"rex": "Rex is a dog who lives in Paris.", "anna": "Anna works at a bakery in Lyon.",
         "sena": "The river Sena flows north through the old town."}


def code_of(fn) -> str:
    """The gRPC status code a client call fails with."""
    with pytest.raises(ClientError) as e:
        fn()
    return e.value.code


@contextmanager
def live_server(checkpoint: Path, store: Path, store_options: dict | None = None, **settings
                ) -> Iterator[tuple[BackgroundServer, str]]:
    """-> (server, "127.0.0.1:port"), serving once the engine has loaded; stopped on exit."""
    model = MSAModel.from_pretrained(checkpoint)
    config = ServerConfig(store=str(store), listen="127.0.0.1:0", grace_s=5.0, **settings)
    server = BackgroundServer(config, lambda: Engine.open(store, model, create=True, **(store_options or {})))
    port = server.start()
    try:
        yield server, f"127.0.0.1:{port}"
    finally:
        server.stop()


def client_for(target: str, token: str | None = None) -> MemoryClient:
    return MemoryClient(target, token=token, timeout=30)


def get_latencies(client: MemoryClient, namespace: str, doc: str, n: int = 100) -> list[float]:
    """Seconds each of `n` small Gets took, sorted (index 98 of 100 is the p99 the load tests assert)."""
    latencies = []
    for _ in range(n):
        start = time.perf_counter()
        client.get(namespace, doc)
        latencies.append(time.perf_counter() - start)
    return sorted(latencies)
