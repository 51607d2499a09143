"""`Store`: one LMDB environment holding namespaces, documents and their encodings, bound to one model.

Every operation is one LMDB transaction: a write commits whole or not at all, and a committed write is on
disk (LMDB syncs at commit) before the call returns. Values are decoded inside their read transaction and
no generator holds a transaction across a yield. The map grows (doubling, up to `max_map_size`) when a
write fills it, once no read transaction of this process is open.
"""

from __future__ import annotations

import resource
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import lmdb
import torch

from msa.memstore.errors import (
    AlreadyExists,
    CorruptData,
    InvalidArgument,
    ModelMismatch,
    NotFound,
    StoreError,
    StoreFull,
    Unavailable,
    VersionConflict,
)
from msa.memstore.storage import blob
from msa.memstore.storage.records import (
    FORMAT_VERSION,
    KEY_K,
    KEY_ROUTING,
    KEY_TOKENS,
    KEY_V,
    TOKENS_LAYER,
    Document,
    Encoding,
    ModelBinding,
    Namespace,
    NewDocument,
    WriteResult,
    blob_key,
    blob_keys,
    blob_prefix,
    check_id,
    check_metadata,
    check_namespace,
    document_key,
    dump,
    load_document,
    load_namespace,
    namespace_key,
    ordinal_key,
)

T = TypeVar("T")
MODES = ("create", "upsert")
SUBDBS = (b"meta", b"namespaces", b"documents", b"ordinals", b"blobs")
PURGING = b"purging\0"  # meta key prefix: + name of a deleted namespace whose records are still being removed
PURGE_DOCUMENTS = 256  # documents removed per write transaction of a purge
MAX_LIST_SCAN = 10_000  # documents a List page reads at most (a filter that matches few ends the page early)


class Store:
    """Open (or with `create=True` make) the store at `path`. With `binding`, a store written by another
    model is refused (`ModelMismatch`) before anything is written; maintenance may pass `binding=None`."""

    def __init__(self, path: str | Path, binding: ModelBinding | None = None, create: bool = False,
                 map_size: int = 1 << 30, max_map_size: int = 1 << 40, codec: blob.Codec = blob.Codec.ZSTD,
                 readonly: bool = False) -> None:
        self.path = Path(path)
        exists = (self.path / "data.mdb").exists()
        if not exists and not create:
            raise NotFound(f"no store at {self.path}; create one with `msa init {self.path}`")
        if not exists and binding is None:
            raise InvalidArgument("a new store needs the model it is bound to")
        self.path.mkdir(parents=True, exist_ok=True)
        self.codec, self.max_map_size = codec, max_map_size
        self.env = lmdb.open(str(self.path), map_size=map_size, max_dbs=len(SUBDBS), subdir=True,
                             readonly=readonly, lock=not readonly, sync=True, metasync=True, max_readers=1024)
        self.db = {name.decode(): self.env.open_db(name, create=not readonly) for name in SUBDBS}
        self._write_lock = threading.Lock()
        self._readers = 0
        self._growing = False
        self._cond = threading.Condition()
        try:
            self.binding = self._bind(binding)
            if not readonly:
                for name in self.purging():  # a deletion cut short (crash, error) is finished first
                    self.purge(name)
        except BaseException:
            self.env.close()
            raise

    # -- transactions ------------------------------------------------------------------------------
    def close(self) -> None:
        self.env.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def _read_txn(self) -> Iterator[lmdb.Transaction]:
        with self._cond:
            self._cond.wait_for(lambda: not self._growing)
            self._readers += 1
        try:
            with self.env.begin() as txn:
                yield txn
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    def _read(self, fn: Callable[[lmdb.Transaction], T]) -> T:
        with self._read_txn() as txn:
            return fn(txn)

    def _write(self, fn: Callable[[lmdb.Transaction], T]) -> T:
        """Run fn in one write transaction, committed before returning; grow the map when it is full."""
        with self._write_lock:
            while True:
                try:
                    with self.env.begin(write=True) as txn:
                        return fn(txn)
                except lmdb.MapFullError:
                    self._grow()
                except lmdb.Error as e:
                    if self._out_of_space(e):
                        raise StoreFull(f"{self.path}: no space left to write ({e}); free disk space, then "
                                        "retry. The store is still readable.") from e
                    raise StoreError(f"{self.path}: the write failed and was rolled back ({e}); check the disk "
                                     "and run `msa check`") from e

    def _out_of_space(self, e: lmdb.Error) -> bool:
        """ENOSPC, EFBIG or EDQUOT; LMDB reports a short write at commit as EIO, so an I/O error counts
        when the disk is nearly full or the data file is at the process's file size limit."""
        if any(m in str(e) for m in ("No space left", "File too large", "quota")):
            return True
        if "Input/output error" not in str(e):
            return False
        disk = shutil.disk_usage(self.path)
        size = (self.path / "data.mdb").stat().st_size
        limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        return disk.free < 64 << 20 or (limit != resource.RLIM_INFINITY and size + (1 << 20) >= limit)

    def _grow(self) -> None:
        size = self.env.info()["map_size"]
        if size >= self.max_map_size:
            raise StoreFull(f"{self.path} reached its map size limit of {self.max_map_size} bytes; raise "
                            "max_map_size or delete documents. The store is still readable.")
        with self._cond:
            self._growing = True
            try:
                self._cond.wait_for(lambda: self._readers == 0)
                self.env.set_mapsize(min(2 * size, self.max_map_size))
            finally:
                self._growing = False
                self._cond.notify_all()

    # -- model binding -----------------------------------------------------------------------------
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

    @property
    def layers(self) -> tuple[int, ...]:
        return self.binding.router_layers

    # -- namespaces --------------------------------------------------------------------------------
    def create_namespace(self, name: str, description: str = "") -> Namespace:
        check_namespace(name)
        ns = Namespace(name, description, time.time(), 0, 0)

        def op(txn) -> Namespace:
            if txn.get(PURGING + namespace_key(name), db=self.db["meta"]) is not None:
                raise Unavailable(f"namespace {name!r} is still being deleted; retry in a moment")
            if not txn.put(namespace_key(name), dump(ns), db=self.db["namespaces"], overwrite=False):
                raise AlreadyExists(f"namespace {name!r} exists")
            return ns

        return self._write(op)

    def namespace(self, name: str) -> Namespace:
        return self._read(lambda txn: self._namespace(txn, name))

    def _namespace(self, txn, name: str) -> Namespace:
        data = txn.get(namespace_key(check_namespace(name)), db=self.db["namespaces"])
        if data is None:
            raise NotFound(f"namespace {name!r} does not exist; create it first")
        return load_namespace(data)

    def list_namespaces(self, page_size: int = 100, page_token: str = "",
                        visible: Callable[[str], bool] = lambda name: True) -> tuple[list[Namespace], str]:
        """Namespaces in name order after `page_token`, only those `visible` (a caller's grant): neither a page
        nor its token names another; -> (page, next token or "")."""
        page_size = _page_size(page_size)
        if page_token:
            check_namespace(page_token)

        def op(txn) -> tuple[list[Namespace], str]:
            cur = txn.cursor(db=self.db["namespaces"])
            found = cur.set_range(page_token.encode() + b"\0") if page_token else cur.first()
            out = []
            while found and len(out) < page_size:
                space = load_namespace(cur.value())
                if visible(space.name):
                    out.append(space)
                found = cur.next()
            return out, (out[-1].name if found and out else "")

        return self._read(op)

    def delete_namespace(self, name: str) -> int:
        """Delete a namespace and all its documents (`drop_namespace`, then `purge`); -> documents deleted."""
        count = self.drop_namespace(name)
        self.purge(name)
        return count

    def drop_namespace(self, name: str) -> int:
        """Delete a namespace, all or nothing for readers: one transaction removes its record (every read
        of it is NotFound from then on) and marks its documents for `purge`; -> documents deleted."""

        def op(txn) -> int:
            ns = self._namespace(txn, name)
            txn.delete(namespace_key(name), db=self.db["namespaces"])
            txn.put(PURGING + namespace_key(name), b"", db=self.db["meta"])
            return ns.documents

        return self._write(op)

    def purge(self, name: str) -> None:
        """Remove a deleted namespace's documents, `PURGE_DOCUMENTS` whole documents per transaction, so a
        huge namespace never holds the one writer (nor LMDB's dirty pages) for one long transaction; the
        name is free again once the last one commits."""
        prefix = name.encode() + b"\0"

        def step(txn) -> bool:  # -> whether the purge is complete
            cur = txn.cursor(db=self.db["ordinals"])
            found, removed = cur.set_range(prefix), 0
            while found and cur.key().startswith(prefix) and removed < PURGE_DOCUMENTS:
                for key in blob_keys(name, int.from_bytes(cur.key()[len(prefix):], "big"), self.layers):
                    txn.delete(key, db=self.db["blobs"])
                txn.delete(document_key(name, cur.value().decode()), db=self.db["documents"])
                found, removed = cur.delete(), removed + 1
            if removed == PURGE_DOCUMENTS:
                return False
            for db in ("documents", "blobs"):  # records no ordinal led to (a store `msa check` would flag)
                cur = txn.cursor(db=self.db[db])
                found = cur.set_range(prefix)
                while found and cur.key().startswith(prefix):
                    found = cur.delete()
            txn.delete(PURGING + namespace_key(name), db=self.db["meta"])
            return True

        while not self._write(step):
            pass

    def purging(self) -> list[str]:
        """Deleted namespaces whose documents are not all removed yet."""

        def op(txn) -> list[str]:
            cur = txn.cursor(db=self.db["meta"])
            found, out = cur.set_range(PURGING), []
            while found and cur.key().startswith(PURGING):
                out.append(bytes(cur.key()[len(PURGING):]).decode())
                found = cur.next()
            return out

        return self._read(op)

    # -- documents ---------------------------------------------------------------------------------
    def write(self, ns: str, documents: list[NewDocument], mode: str = "create") -> list[WriteResult]:
        """All-or-nothing batch write. `create`: an existing id fails the batch (AlreadyExists); `upsert`:
        an existing id is replaced (version + 1), unless text and metadata are unchanged (a no-op)."""
        if mode not in MODES:
            raise InvalidArgument(f"mode {mode!r} is not one of {MODES}")
        if not documents:
            raise InvalidArgument("a write needs at least one document")
        ids = [check_id(d.id) for d in documents]
        if len(set(ids)) != len(ids):
            raise InvalidArgument("a write holds the same document id twice")
        blobs = [self._encode_blobs(d) for d in documents]  # compress outside the write lock

        def op(txn) -> list[WriteResult]:
            space = self._namespace(txn, ns)
            out = []
            now, next_ordinal, count = time.time(), space.next_ordinal, space.documents
            for doc, payload in zip(documents, blobs, strict=True):
                old = txn.get(document_key(ns, doc.id), db=self.db["documents"])
                if old is not None:
                    prev = load_document(old)
                    if mode == "create":
                        raise AlreadyExists(f"document {doc.id!r} exists in {ns!r}; use upsert or update")
                    if doc.ordinal is not None and doc.ordinal != prev.ordinal:
                        raise InvalidArgument(f"document {doc.id!r} has ordinal {prev.ordinal}, not {doc.ordinal}")
                    if prev.text == doc.text and prev.metadata == doc.metadata:
                        out.append(WriteResult(doc.id, prev.version, prev.tokens, prev.ordinal, changed=False))
                        continue
                    rec = replace(prev, version=prev.version + 1, text=doc.text, metadata=dict(doc.metadata),
                                  tokens=len(doc.encoding.token_ids), chunks=doc.encoding.chunks, updated_at=now)
                else:
                    ordinal = next_ordinal if doc.ordinal is None else doc.ordinal
                    if ordinal < next_ordinal:
                        raise InvalidArgument(f"ordinal {ordinal} of {doc.id!r} was used before; ordinals are "
                                              f"never reused (next free: {next_ordinal})")
                    rec = Document(ns, doc.id, ordinal, 1, doc.text, dict(doc.metadata),
                                   len(doc.encoding.token_ids), doc.encoding.chunks, now, now)
                    next_ordinal, count = ordinal + 1, count + 1
                    txn.put(ordinal_key(ns, rec.ordinal), doc.id.encode(), db=self.db["ordinals"])
                self._put_document(txn, rec, payload)
                out.append(WriteResult(doc.id, rec.version, rec.tokens, rec.ordinal, changed=True))
            self._put_namespace(txn, replace(space, documents=count, next_ordinal=next_ordinal))
            return out

        return self._write(op)

    def update(self, ns: str, doc_id: str, text: str | None = None, metadata: dict[str, str] | None = None,
               encoding: Encoding | None = None, expected_version: int = 0) -> WriteResult:
        """Change text (with its new `encoding`) and/or metadata; `expected_version` > 0 must match."""
        check_id(doc_id)
        if text is not None and encoding is None:
            raise InvalidArgument("a new text needs its encoding")
        if metadata is not None:
            check_metadata(metadata)
        if encoding is not None and text is None:
            raise InvalidArgument("an encoding comes with the new text it encodes")
        payload = self._encode_blobs(NewDocument(doc_id, text, {}, encoding)) if text is not None else None

        def op(txn) -> WriteResult:
            prev = self._document(txn, ns, doc_id, expected_version)
            new_text = prev.text if text is None else text
            new_meta = prev.metadata if metadata is None else dict(metadata)
            if new_text == prev.text and new_meta == prev.metadata:
                return WriteResult(doc_id, prev.version, prev.tokens, prev.ordinal, changed=False)
            rec = replace(prev, version=prev.version + 1, text=new_text, metadata=new_meta, updated_at=time.time())
            if payload is not None and new_text != prev.text:
                rec = replace(rec, tokens=len(encoding.token_ids), chunks=encoding.chunks)
                self._put_document(txn, rec, payload)
            else:
                txn.put(document_key(ns, doc_id), dump(rec), db=self.db["documents"])
            return WriteResult(doc_id, rec.version, rec.tokens, rec.ordinal, changed=True)

        return self._write(op)

    def delete(self, ns: str, ids: list[str], expected_version: int = 0) -> list[Document]:
        """Delete documents in one transaction, all or nothing: an id that is not present is NotFound and
        nothing is deleted. `expected_version` needs exactly one id, at that version. -> the deleted documents."""
        for doc_id in ids:
            check_id(doc_id)
        if expected_version and len(ids) != 1:
            raise InvalidArgument("expected_version applies to a single id")

        def op(txn) -> list[Document]:
            space = self._namespace(txn, ns)
            gone = []
            for doc_id in dict.fromkeys(ids):
                rec = self._document(txn, ns, doc_id, expected_version)
                txn.delete(document_key(ns, doc_id), db=self.db["documents"])
                txn.delete(ordinal_key(ns, rec.ordinal), db=self.db["ordinals"])
                for key in blob_keys(ns, rec.ordinal, self.layers):
                    txn.delete(key, db=self.db["blobs"])
                gone.append(rec)
            if gone:
                self._put_namespace(txn, replace(space, documents=space.documents - len(gone)))
            return gone

        return self._write(op)

    def get(self, ns: str, doc_id: str) -> Document:
        check_id(doc_id)
        return self._read(lambda txn: self._document(txn, ns, doc_id))

    def ordinals(self, ns: str, ids: list[str]) -> dict[str, int]:
        """Ordinals of the ids that exist, in one read transaction."""

        def op(txn) -> dict[str, int]:
            out = {}
            for doc_id in ids:
                data = txn.get(document_key(ns, doc_id), db=self.db["documents"])
                if data is not None:
                    out[doc_id] = load_document(data).ordinal
            return out

        return self._read(op)

    def by_ordinals(self, ns: str, ordinals: list[int]) -> dict[int, Document]:
        """The documents with these ordinals (absent ones skipped), in one read transaction."""

        def op(txn) -> dict[int, Document]:
            out = {}
            for o in ordinals:
                doc_id = txn.get(ordinal_key(ns, o), db=self.db["ordinals"])
                if doc_id is not None:
                    out[o] = load_document(txn.get(document_key(ns, doc_id.decode()), db=self.db["documents"]))
            return out

        return self._read(op)

    def list(self, ns: str, page_size: int = 100, page_token: str = "", where: dict[str, str] | None = None,
             ) -> tuple[list[Document], str]:
        """Documents in creation (ordinal) order after `page_token`, those whose metadata holds every
        `where` pair; text left empty. A page reads at most `MAX_LIST_SCAN` documents, so one that few
        match may come short (even empty) with a next token. -> (page, next token or "")."""
        page_size = _page_size(page_size)
        start = _page_start(page_token)
        where = where or {}

        def op(txn) -> tuple[list[Document], str]:
            self._namespace(txn, ns)
            cur = txn.cursor(db=self.db["ordinals"])
            prefix = ns.encode() + b"\0"
            found = cur.set_range(ordinal_key(ns, start))
            out, last, scanned = [], None, 0
            while found and cur.key().startswith(prefix) and len(out) < page_size and scanned < MAX_LIST_SCAN:
                rec = load_document(txn.get(document_key(ns, cur.value().decode()), db=self.db["documents"]))
                last, scanned = rec.ordinal, scanned + 1
                if all(rec.metadata.get(k) == v for k, v in where.items()):
                    out.append(replace(rec, text=""))
                found = cur.next()
            more = found and cur.key().startswith(prefix)
            return out, (str(last + 1) if more and last is not None else "")

        return self._read(op)

    def kv(self, ns: str, ordinals: list[int], layer: int) -> dict[int, tuple[torch.Tensor, torch.Tensor]]:
        """Pooled keys and values [C, G, D] of documents on one router layer (missing ordinals skipped)."""

        def op(txn) -> dict[int, tuple[torch.Tensor, torch.Tensor]]:
            out = {}
            for o in ordinals:
                k = txn.get(blob_key(ns, KEY_K, layer, o), db=self.db["blobs"])
                if k is not None:
                    out[o] = (blob.decode(k), self._blob(txn, blob_key(ns, KEY_V, layer, o)))
            return out

        return self._read(op)

    def namespace_routing_keys(self, ns: str) -> dict[int, list[tuple[int, torch.Tensor]]]:
        """Every router layer's (ordinal, routing keys [C, G, D]) of a namespace, read in one transaction
        so the layers agree (what the routing index loads)."""

        def op(txn) -> dict[int, list[tuple[int, torch.Tensor]]]:
            self._namespace(txn, ns)
            return {layer: self._routing_rows(txn, ns, layer) for layer in self.layers}

        return self._read(op)

    def _routing_rows(self, txn, ns: str, layer: int) -> list[tuple[int, torch.Tensor]]:
        prefix = blob_prefix(ns, KEY_ROUTING, layer)
        cur = txn.cursor(db=self.db["blobs"])
        found = cur.set_range(prefix)
        out = []
        while found and cur.key().startswith(prefix):
            out.append((int.from_bytes(cur.key()[len(prefix):], "big"), blob.decode(cur.value())))
            found = cur.next()
        return out

    # -- maintenance -------------------------------------------------------------------------------
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

    # -- helpers -----------------------------------------------------------------------------------
    def all_namespaces(self) -> list[Namespace]:
        out, token = [], ""
        while True:
            page, token = self.list_namespaces(1000, token)
            out += page
            if not token:
                return out

    def _document(self, txn, ns: str, doc_id: str, expected_version: int = 0) -> Document:
        self._namespace(txn, ns)
        data = txn.get(document_key(ns, doc_id), db=self.db["documents"])
        if data is None:
            raise NotFound(f"document {doc_id!r} does not exist in {ns!r}")
        rec = load_document(data)
        if expected_version and rec.version != expected_version:
            raise VersionConflict(f"document {doc_id!r} is at version {rec.version}, not {expected_version}; "
                                  "read it again and retry")
        return rec

    def _blob(self, txn, key: bytes) -> torch.Tensor:
        value = txn.get(key, db=self.db["blobs"])
        if value is None:
            raise CorruptData(f"blob {key!r} is missing; run `msa check`")
        return blob.decode(value)

    def _put_namespace(self, txn, space: Namespace) -> None:
        txn.put(namespace_key(space.name), dump(space), db=self.db["namespaces"])

    def _put_document(self, txn, rec: Document, payload: dict[bytes, bytes]) -> None:
        txn.put(document_key(rec.namespace, rec.id), dump(rec), db=self.db["documents"])
        for (kind, layer), value in payload.items():
            txn.put(blob_key(rec.namespace, kind, layer, rec.ordinal), value, db=self.db["blobs"])

    def _encode_blobs(self, doc: NewDocument) -> dict[tuple[bytes, int], bytes]:
        """Validate one document's encoding against the store's layers and compress its blobs."""
        check_metadata(doc.metadata)
        enc = doc.encoding
        if not isinstance(doc.text, str) or not doc.text:
            raise InvalidArgument(f"document {doc.id!r} has empty text")
        for name, part in (("keys", enc.keys), ("values", enc.values), ("routing keys", enc.routing_keys)):
            if set(part) != set(self.layers):
                raise InvalidArgument(f"document {doc.id!r} has {name} for layers {sorted(part)}, the store's "
                                      f"model routes on {list(self.layers)}")
        out = {(KEY_TOKENS, TOKENS_LAYER): blob.encode(torch.tensor(enc.token_ids, dtype=torch.int32), self.codec)}
        for layer in self.layers:
            shapes = {enc.keys[layer].shape[0], enc.values[layer].shape[0], enc.routing_keys[layer].shape[0]}
            if shapes != {enc.chunks}:
                raise InvalidArgument(f"document {doc.id!r}: layer {layer} chunk counts {sorted(shapes)} differ")
            for kind, part in ((KEY_K, enc.keys), (KEY_V, enc.values), (KEY_ROUTING, enc.routing_keys)):
                out[kind, layer] = blob.encode(part[layer], self.codec)
        return out




MAX_PAGE_SIZE = 1000
MAX_PAGE_TOKEN = 20  # digits of a List token (an ordinal < 2**64)


def _page_size(page_size: int) -> int:
    """0 means the default page of 100 (the proto's contract)."""
    if not 0 <= page_size <= MAX_PAGE_SIZE:
        raise InvalidArgument(f"page_size must be in [1, {MAX_PAGE_SIZE}] (0 = 100), got {page_size}")
    return page_size or 100


def _page_start(token: str) -> int:
    if not token:
        return 0
    if len(token) > MAX_PAGE_TOKEN or not (token.isascii() and token.isdigit()) or int(token) >= 2**64:
        raise InvalidArgument(f"page_token {token[:MAX_PAGE_TOKEN]!r} is not one this store issued; pass the "
                              "next_page_token of the previous page, or none for the first")
    return int(token)

