"""Whole-store reads: `check` (every record and blob sound), `stats`, and a consistent `backup`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from msa.memstore.errors import AlreadyExists, CorruptData
from msa.memstore.storage import blob
from msa.memstore.storage.reads import Reads
from msa.memstore.storage.records import (
    KEY_K,
    KEY_ROUTING,
    KEY_TOKENS,
    KEY_V,
    TOKENS_LAYER,
    blob_key,
    document_key,
    load_document,
    load_namespace,
    ordinal_key,
)


class Inspection(Reads):
    """Reads over the whole store, a page of documents per transaction where it is large."""

    def check(self, progress: Callable[[int], None] | None = None) -> list[str]:
        """Verify every document's records and blobs (presence, header, checksum, chunk count);
        -> problems found, empty when the store is sound. Reads one namespace page at a time."""
        problems = []
        for space in self.all_namespaces():
            after = -1
            while True:
                page = self._read(lambda txn, a=after, s=space.name: self._check_page(txn, s, a, problems))
                if not page:
                    break
                after = page[-1]
                if progress:
                    progress(len(page))
        return problems

    def _check_page(self, txn, ns: str, after: int, problems: list[str], size: int = 256) -> list[int]:
        cur = txn.cursor(db=self.db["ordinals"])
        prefix = ns.encode() + b"\0"
        found = cur.set_range(ordinal_key(ns, after + 1))
        seen = []
        while found and cur.key().startswith(prefix) and len(seen) < size:
            ordinal = int.from_bytes(cur.key()[len(prefix):], "big")
            doc_id = cur.value().decode()
            seen.append(ordinal)
            data = txn.get(document_key(ns, doc_id), db=self.db["documents"])
            if data is None:
                problems.append(f"{ns}/{doc_id}: ordinal {ordinal} has no document record")
                found = cur.next()
                continue
            rec = load_document(data)
            parts = [(kind, layer) for layer in self.layers for kind in (KEY_K, KEY_V, KEY_ROUTING)]
            for kind, layer in [*parts, (KEY_TOKENS, TOKENS_LAYER)]:
                value = txn.get(blob_key(ns, kind, layer, ordinal), db=self.db["blobs"])
                where = f"{ns}/{doc_id}: {kind.decode()} blob" + ("" if kind == KEY_TOKENS else f" of layer {layer}")
                if value is None:
                    problems.append(f"{where} is missing")
                    continue
                try:
                    blob.verify(value)
                    shape = blob.decode(value).shape
                except CorruptData as e:
                    problems.append(f"{where}: {e}")
                    continue
                expected = rec.tokens if layer == TOKENS_LAYER else rec.chunks
                if shape[0] != expected:
                    problems.append(f"{where} has {shape[0]} rows, the record says {expected}")
            found = cur.next()
        return seen

    def stats(self) -> dict[str, Any]:
        """Documents, tokens, chunks and bytes (raw and stored, per blob kind) per namespace and in total."""

        def op(txn) -> dict[str, Any]:
            spaces: dict[str, dict[str, Any]] = {}
            for value in txn.cursor(db=self.db["namespaces"]).iternext(keys=False):
                spaces[load_namespace(value).name] = {"documents": 0, "tokens": 0, "chunks": 0, "bytes": {}}
            for value in txn.cursor(db=self.db["documents"]).iternext(keys=False):
                rec = load_document(value)
                if rec.namespace not in spaces:  # a deleted namespace being purged
                    continue
                s = spaces[rec.namespace]
                s["documents"] += 1
                s["tokens"] += rec.tokens
                s["chunks"] += rec.chunks
            for key, value in txn.cursor(db=self.db["blobs"]).iternext():
                ns, rest = bytes(key).split(b"\0", 1)
                if ns.decode() not in spaces:
                    continue
                raw, stored = blob.verify(value)
                kinds = spaces[ns.decode()]["bytes"].setdefault(rest[:1].decode(), [0, 0])
                kinds[0] += raw
                kinds[1] += stored
            info = self.env.info()
            return {"namespaces": spaces, "map_size": info["map_size"],
                    "file_bytes": (self.path / "data.mdb").stat().st_size,
                    "model": self.binding.name, "fingerprint": self.binding.fingerprint}

        return self._read(op)

    def backup(self, target: str | Path, compact: bool = True) -> Path:
        """A consistent copy of the store (one read snapshot, taken while writes go on) into the new
        directory TARGET; `compact` leaves out free pages."""
        target = Path(target)
        if target.exists() and any(target.iterdir()):
            raise AlreadyExists(f"{target} is not empty; back up into a new directory")
        target.mkdir(parents=True, exist_ok=True)
        with self._read_txn() as txn:
            self.env.copy(str(target), compact=compact, txn=txn)
        return target
