"""Stats of a store, a namespace, or the namespaces a caller may read, summed from the store's records and
the sizes the index and the cache hold."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


class Grant(Protocol):
    """What the engine asks of a caller's rights (`msa.memstore.server.auth.Grant`); None stands for a
    caller without restrictions (a server without a tokens file, an in-process user)."""

    @property
    def whole_store(self) -> bool:
        """The rights cover every namespace."""
        ...

    def allows(self, right: str, ns: str | None) -> bool: ...


def visible(grant: Grant | None, name: str) -> bool:
    """Whether a caller may see that a namespace exists: a read right on it."""
    return grant is None or grant.allows("read", name)


@dataclass(frozen=True)
class StoreStats:
    """Sums over the namespaces asked for; process-wide sizes (file, device, host, cache) only for a caller
    whose rights cover the whole store, since they describe every tenant together (0 otherwise)."""

    documents: int
    tokens: int
    chunks: int
    bytes_on_disk: int
    stored_bytes: int
    raw_bytes: int
    device_resident_bytes: int
    host_resident_bytes: int
    cache_bytes: int
    model: str
    model_fingerprint: str
    namespaces: int


def summed(stats: dict[str, Any], spaces: dict[str, dict], whole: bool, device_bytes: int, host_bytes: int,
           cache_bytes: int) -> StoreStats:
    """`Store.stats()` and the per-namespace entries chosen from it -> their sums."""
    return StoreStats(
        documents=sum(s["documents"] for s in spaces.values()), tokens=sum(s["tokens"] for s in spaces.values()),
        chunks=sum(s["chunks"] for s in spaces.values()), bytes_on_disk=stats["file_bytes"] if whole else 0,
        stored_bytes=sum(b[1] for s in spaces.values() for b in s["bytes"].values()),
        raw_bytes=sum(b[0] for s in spaces.values() for b in s["bytes"].values()),
        device_resident_bytes=device_bytes if whole else 0, host_resident_bytes=host_bytes if whole else 0,
        cache_bytes=cache_bytes if whole else 0, model=stats["model"], model_fingerprint=stats["fingerprint"],
        namespaces=len(spaces))
