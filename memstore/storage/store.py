"""`Store`: one LMDB environment holding namespaces, documents and their encodings, bound to one model.

Every operation is one LMDB transaction: a write commits whole or not at all, and a committed write is on
disk (LMDB syncs at commit) before the call returns. The parts, each in its own module: the environment and
its transactions (`transactions`), namespaces (`namespaces`), deleting them (`purge`), reading documents
(`reads`), writing them (`writes`), and whole-store checks, stats and backups (`inspection`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from msa.memstore.errors import CorruptData, InvalidArgument, ModelMismatch, NotFound
from msa.memstore.storage import blob
from msa.memstore.storage.inspection import Inspection
from msa.memstore.storage.purge import Purge
from msa.memstore.storage.records import FORMAT_VERSION, ModelBinding
from msa.memstore.storage.writes import Writes


class Store(Writes, Purge, Inspection):
    """Open (or with `create=True` make) the store at `path`. With `binding`, a store written by another
    model is refused (`ModelMismatch`) before anything is written; maintenance may pass `binding=None`."""

    def __init__(self, path: str | Path, binding: ModelBinding | None = None, create: bool = False,
                 map_size: int = 1 << 30, max_map_size: int = 1 << 40, codec: blob.Codec = blob.Codec.ZSTD,
                 readonly: bool = False, clock: Callable[[], float] = time.time) -> None:
        path = Path(path)
        exists = (path / "data.mdb").exists()
        if not exists and not create:
            raise NotFound(f"no store at {path}; create one with `msa init {path}`")
        if not exists and binding is None:
            raise InvalidArgument("a new store needs the model it is bound to")
        path.mkdir(parents=True, exist_ok=True)
        super().__init__(path, map_size, max_map_size, readonly)
        self.codec, self.clock = codec, clock  # `clock`: what "now" is for times and expiry (tests set it)
        try:
            self.binding = self._bind(binding)
            if not readonly:
                for name in self.purging():  # a deletion cut short (crash, error) is finished first
                    self.purge(name)
        except BaseException:
            self.close()  # the environment and the writer lock
            raise

    def _bind(self, binding: ModelBinding | None) -> ModelBinding:
        def read(txn) -> tuple[bytes | None, bytes | None]:
            return txn.get(b"format", db=self.db["meta"]), txn.get(b"model", db=self.db["meta"])

        fmt, model = self._read(read)
        if model is None:
            if binding is None:
                raise CorruptData(f"{self.path} has no model record; it is not an msa store")

            def init(txn) -> None:
                txn.put(b"format", str(FORMAT_VERSION).encode(), db=self.db["meta"])
                txn.put(b"model", binding.to_json(), db=self.db["meta"])

            self._write(init)
            return binding
        if int(fmt) != FORMAT_VERSION:
            raise CorruptData(f"{self.path} has store format {int(fmt)}; this msa-memstore reads {FORMAT_VERSION}")
        stored = ModelBinding.from_json(model)
        if binding is not None and binding.fingerprint != stored.fingerprint:
            raise ModelMismatch(f"{self.path} was written with model {stored.name or '?'} (fingerprint "
                                f"{stored.fingerprint[:12]}), not {binding.name or '?'} ({binding.fingerprint[:12]}); "
                                "open it with that model or write into a new store")
        return stored
