"""Server configuration: defaults < a TOML file < `MSA_*` environment variables < command-line flags.

    store = "/var/lib/msa/store"          # MSA_STORE
    model = ""                            # MSA_MODEL; empty = the embedded default model
    listen = "127.0.0.1:50051"            # MSA_LISTEN
    tokens_file = ""                      # MSA_TOKENS_FILE; empty = no auth, loopback only
    ...

Every field of `ServerConfig` can be set each way; environment values are parsed to the field's type.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from msa.memstore.errors import InvalidArgument

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass(frozen=True)
class ServerConfig:
    store: str = ""  # the store directory (created by `msa init` or `--create`)
    model: str = ""  # checkpoint directory; empty = the embedded default model
    device: str = "cpu"  # cpu or cuda
    dtype: str = "auto"  # auto (bfloat16 on a CPU that runs it natively, else float32), float32 or bfloat16
    listen: str = "127.0.0.1:50051"  # host:port; port 0 picks a free one
    tokens_file: str = ""  # bearer tokens (msa.memstore.server.auth); empty = no auth, loopback only
    tls_cert: str = ""  # PEM certificate chain; with tls_key enables TLS
    tls_key: str = ""  # PEM private key
    metrics_listen: str = ""  # host:port of the Prometheus text endpoint; empty = off
    mcp_listen: str = ""  # host:port of the MCP streamable-HTTP endpoint (/mcp); empty = off
    max_inflight: int = 64  # requests being served at once; beyond: RESOURCE_EXHAUSTED
    max_queries: int = 2  # questions (Query, Retrieve) running the model at once; more wait in line
    query_queue: int = 16  # questions waiting for a slot; beyond: RESOURCE_EXHAUSTED
    max_scans: int = 2  # calls whose work grows with a namespace or the store (List, ListNamespaces, Stats,
    #                     DeleteNamespace) running at once; more wait in line
    scan_queue: int = 16  # such calls waiting; beyond: RESOURCE_EXHAUSTED
    write_batch_ms: float = 5.0  # how long a write waits for others to be encoded with it
    write_batch_documents: int = 256  # documents encoded together at most
    index_budget_mb: int = 0  # routing keys on the device; 0 = a GPU's free memory less 30%, 8 GiB on a CPU
    host_budget_mb: int = 32768  # routing keys of namespaces streamed from host memory
    cache_mb: int = 1024  # content K/V cache
    world_size: int = 1  # Memory Parallel: ranks holding the routing index (> 1: shards over processes / GPUs)
    shard_timeout_s: float = 60.0  # a round of the ranks longer than this fails the index (UNAVAILABLE)
    grace_s: float = 10.0  # graceful stop: in-flight requests get this long to finish

    def merged(self, values: dict[str, Any], source: str) -> ServerConfig:
        known = {f.name: f for f in fields(self)}
        out = {}
        for key, value in values.items():
            if key not in known:
                raise InvalidArgument(f"{source}: unknown setting {key!r}; known: {', '.join(known)}")
            kind = type(getattr(self, key))
            try:
                out[key] = kind(value)
            except (TypeError, ValueError) as e:
                raise InvalidArgument(f"{source}: {key} must be a {kind.__name__}, got {value!r}") from e
        return replace(self, **out)


def load_toml(path: str | Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except OSError as e:
        raise InvalidArgument(f"cannot read {path}: {e.strerror}") from e
    except tomllib.TOMLDecodeError as e:
        raise InvalidArgument(f"{path} is not valid TOML: {e}") from e


def load_config(file: str | Path | None = None, env: dict[str, str] | None = None,
                flags: dict[str, Any] | None = None) -> ServerConfig:
    """Defaults, then FILE, then MSA_<FIELD> variables of ENV (os.environ), then FLAGS (None = not given)."""
    config = ServerConfig()
    if file:
        config = config.merged(load_toml(file), str(file))
    env = os.environ if env is None else env
    names = {f.name for f in fields(ServerConfig)}
    config = config.merged({k[4:].lower(): v for k, v in env.items()
                            if k.startswith("MSA_") and k[4:].lower() in names}, "environment")
    return config.merged({k: v for k, v in (flags or {}).items() if v is not None}, "command line")
