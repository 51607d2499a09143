"""Writing documents: all-or-nothing batches (create or upsert), updates, deletes; blobs are compressed
before the write lock is taken."""

from __future__ import annotations

from dataclasses import replace

import torch

from msa.memstore.errors import AlreadyExists, InvalidArgument, StaleOrdinal
from msa.memstore.storage import blob
from msa.memstore.storage.reads import Reads
from msa.memstore.storage.records import (
    KEY_K,
    KEY_ROUTING,
    KEY_TOKENS,
    KEY_V,
    TOKENS_LAYER,
    Document,
    Encoding,
    Namespace,
    NewDocument,
    WriteResult,
    blob_key,
    blob_keys,
    check_expiry,
    check_id,
    check_metadata,
    document_key,
    dump,
    history_key,
    history_prefix,
    load_document,
    ordinal_key,
)

MODES = ("create", "upsert")


class Writes(Reads):
    """Document writes, each batch in one write transaction."""

    codec: blob.Codec  # how blobs are compressed (set by `Store`)

    def write(self, ns: str, documents: list[NewDocument], mode: str = "create") -> list[WriteResult]:
        """All-or-nothing batch write. `create`: an existing id fails the batch (AlreadyExists); `upsert`:
        an existing id is replaced (version + 1; the old version goes to the history), unless text, metadata
        and expiry are unchanged (a no-op). An expired document that is not reclaimed yet is replaced in either
        mode. A new document with an `origin` keeps its version and times."""
        if mode not in MODES:
            raise InvalidArgument(f"mode {mode!r} is not one of {MODES}")
        if not documents:
            raise InvalidArgument("a write needs at least one document")
        ids = [check_id(d.id) for d in documents]
        if len(set(ids)) != len(ids):
            raise InvalidArgument("a write holds the same document id twice")
        for d in documents:
            check_expiry(d.expires_at)
            if d.origin is not None:
                d.origin.checked(d.id)
        blobs = [self._encode_blobs(d) for d in documents]  # compress outside the write lock

        def op(txn) -> list[WriteResult]:
            space = self._namespace(txn, ns)
            out = []
            now, next_ordinal, count, expiring = self.clock(), space.next_ordinal, space.documents, space.expiring
            for doc, payload in zip(documents, blobs, strict=True):
                old = txn.get(document_key(ns, doc.id), db=self.db["documents"])
                if old is not None:
                    prev = load_document(old)
                    if mode == "create" and not prev.expired(now):
                        raise AlreadyExists(f"document {doc.id!r} exists in {ns!r}; use upsert or update")
                    if doc.ordinal is not None and doc.ordinal != prev.ordinal:
                        raise StaleOrdinal(f"document {doc.id!r} has ordinal {prev.ordinal}, not {doc.ordinal}")
                    if (prev.text, prev.metadata, prev.expires_at) == (doc.text, doc.metadata, doc.expires_at):
                        out.append(WriteResult(doc.id, prev.version, prev.tokens, prev.ordinal, changed=False))
                        continue
                    if prev.expired(now):  # ended when it expired: what is written now is a new document
                        self._keep_history(txn, space, replace(prev, deleted_at=prev.expires_at))
                        created = doc.origin.created_at if doc.origin else now
                    else:
                        self._keep_history(txn, space, prev)
                        created = prev.created_at
                    rec = replace(prev, version=prev.version + 1, text=doc.text, metadata=dict(doc.metadata),
                                  tokens=len(doc.encoding.token_ids), chunks=doc.encoding.chunks, updated_at=now,
                                  expires_at=doc.expires_at, created_at=created)
                    expiring += bool(rec.expires_at) - bool(prev.expires_at)
                else:
                    ordinal = next_ordinal if doc.ordinal is None else doc.ordinal
                    if ordinal < next_ordinal:
                        raise StaleOrdinal(f"ordinal {ordinal} of {doc.id!r} was used before; ordinals are "
                                           f"never reused (next free: {next_ordinal})")
                    # an id deleted before keeps its versions in the history: the new document's continue them
                    version, created, updated = ((doc.origin.version, doc.origin.created_at, doc.origin.updated_at)
                                                 if doc.origin else (self._last_kept(txn, ns, doc.id) + 1, now, now))
                    self._forget_history_from(txn, ns, doc.id, version)
                    rec = Document(ns, doc.id, ordinal, version, doc.text, dict(doc.metadata),
                                   len(doc.encoding.token_ids), doc.encoding.chunks, created, updated, doc.expires_at)
                    next_ordinal, count, expiring = ordinal + 1, count + 1, expiring + bool(doc.expires_at)
                    txn.put(ordinal_key(ns, rec.ordinal), doc.id.encode(), db=self.db["ordinals"])
                self._put_document(txn, rec, payload)
                out.append(WriteResult(doc.id, rec.version, rec.tokens, rec.ordinal, changed=True))
            self._put_namespace(txn, replace(space, documents=count, next_ordinal=next_ordinal, expiring=expiring))
            return out

        return self._write(op)

    def update(self, ns: str, doc_id: str, text: str | None = None, metadata: dict[str, str] | None = None,
               encoding: Encoding | None = None, expected_version: int = 0, expires_at: float | None = None
               ) -> WriteResult:
        """Change text (with its new `encoding`), metadata and/or expiry (`expires_at`: 0 = never; None =
        unchanged); `expected_version` > 0 must match. The old version goes to the history."""
        check_id(doc_id)
        if text is not None and encoding is None:
            raise InvalidArgument("a new text needs its encoding")
        if metadata is not None:
            check_metadata(metadata)
        if expires_at is not None:
            check_expiry(expires_at)
        if encoding is not None and text is None:
            raise InvalidArgument("an encoding comes with the new text it encodes")
        payload = self._encode_blobs(NewDocument(doc_id, text, {}, encoding)) if text is not None else None

        def op(txn) -> WriteResult:
            space = self._namespace(txn, ns)
            prev = self._document(txn, ns, doc_id, expected_version)
            new_text = prev.text if text is None else text
            new_meta = prev.metadata if metadata is None else dict(metadata)
            new_expiry = prev.expires_at if expires_at is None else expires_at
            if (new_text, new_meta, new_expiry) == (prev.text, prev.metadata, prev.expires_at):
                return WriteResult(doc_id, prev.version, prev.tokens, prev.ordinal, changed=False)
            self._keep_history(txn, space, prev)
            rec = replace(prev, version=prev.version + 1, text=new_text, metadata=new_meta, updated_at=self.clock(),
                          expires_at=new_expiry)
            if payload is not None and new_text != prev.text:
                rec = replace(rec, tokens=len(encoding.token_ids), chunks=encoding.chunks)
                self._put_document(txn, rec, payload)
            else:
                txn.put(document_key(ns, doc_id), dump(rec), db=self.db["documents"])
            if bool(new_expiry) != bool(prev.expires_at):
                self._put_namespace(txn, replace(space, expiring=space.expiring + bool(new_expiry)
                                                 - bool(prev.expires_at)))
            return WriteResult(doc_id, rec.version, rec.tokens, rec.ordinal, changed=True)

        return self._write(op)

    def delete(self, ns: str, ids: list[str], expected_version: int = 0) -> list[Document]:
        """Delete documents in one transaction, all or nothing: an id that is not present is NotFound and
        nothing is deleted. `expected_version` needs exactly one id, at that version. Each goes to the
        history as deleted. -> the deleted documents."""
        for doc_id in ids:
            check_id(doc_id)
        if expected_version and len(ids) != 1:
            raise InvalidArgument("expected_version applies to a single id")

        def op(txn) -> list[Document]:
            space = self._namespace(txn, ns)
            return self._remove(txn, space, [self._document(txn, ns, doc_id, expected_version)
                                             for doc_id in dict.fromkeys(ids)])

        return self._write(op)

    def expired_ids(self, ns: str, limit: int = 256) -> list[str]:
        """Up to `limit` ids of expired documents not reclaimed yet, from a read transaction (no writer waits
        for the scan)."""

        def op(txn) -> list[str]:
            if not self._namespace(txn, ns).expiring:
                return []
            now, found = self.clock(), []
            cur = txn.cursor(db=self.db["documents"])
            prefix = ns.encode() + b"\0"
            more = cur.set_range(prefix)
            while more and cur.key().startswith(prefix) and len(found) < limit:
                rec = load_document(cur.value())
                if rec.expired(now):
                    found.append(rec.id)
                more = cur.next()
            return found

        return self._read(op)

    def reap(self, ns: str, ids: list[str]) -> list[Document]:
        """Delete those of `ids` that are expired (into the history as ended) in one transaction -> them."""

        def op(txn) -> list[Document]:
            space, now = self._namespace(txn, ns), self.clock()
            found = [load_document(data) for doc_id in ids
                     if (data := txn.get(document_key(ns, doc_id), db=self.db["documents"])) is not None]
            return self._remove(txn, space, [rec for rec in found if rec.expired(now)])

        return self._write(op)

    def _remove(self, txn, space: Namespace, gone: list[Document]) -> list[Document]:
        """Delete these documents' records and blobs, keep them in the history, update the namespace."""
        now = self.clock()
        for rec in gone:  # an expired one ended when it expired
            self._keep_history(txn, space, replace(rec, deleted_at=rec.expires_at if rec.expired(now) else now))
            txn.delete(document_key(space.name, rec.id), db=self.db["documents"])
            txn.delete(ordinal_key(space.name, rec.ordinal), db=self.db["ordinals"])
            for key in blob_keys(space.name, rec.ordinal, self.layers):
                txn.delete(key, db=self.db["blobs"])
        if gone:
            self._put_namespace(txn, replace(space, documents=space.documents - len(gone),
                                             expiring=space.expiring - sum(bool(r.expires_at) for r in gone)))
        return gone

    def keep_versions(self, ns: str, versions: list[Document]) -> None:
        """Put earlier versions into a namespace's history as they are (an import: idempotent)."""
        for d in versions:
            check_id(d.id)

        def op(txn) -> None:
            self._namespace(txn, ns)
            for d in versions:
                txn.put(history_key(ns, d.id, d.version), dump(replace(d, namespace=ns)), db=self.db["history"])

        self._write(op)

    def _last_kept(self, txn, ns: str, doc_id: str) -> int:
        """The highest version of `doc_id` the history keeps (0: none)."""
        prefix = history_prefix(ns, doc_id)
        cur = txn.cursor(db=self.db["history"])
        if not cur.set_range(prefix + b"\xff" * 8):  # past this id's keys: step back to its last one
            if not cur.last():
                return 0
        elif not cur.prev():
            return 0
        key = bytes(cur.key())
        return int.from_bytes(key[len(prefix):], "big") if key.startswith(prefix) and len(key) == len(prefix) + 8 else 0

    def _forget_history_from(self, txn, ns: str, doc_id: str, version: int) -> None:
        """Drop kept versions >= `version` of an id (an import that restarts its numbering below them)."""
        cur = txn.cursor(db=self.db["history"])
        more = cur.set_range(history_key(ns, doc_id, version))
        prefix = history_prefix(ns, doc_id)
        while more and cur.key().startswith(prefix):
            more = cur.delete()

    def _keep_history(self, txn, space: Namespace, prev: Document) -> None:
        """Keep a version that is being replaced or deleted (text and metadata), at most `space.history`
        per document: the oldest beyond go."""
        if not space.history:
            return
        txn.put(history_key(space.name, prev.id, prev.version), dump(prev), db=self.db["history"])
        prefix = history_prefix(space.name, prev.id)
        cur = txn.cursor(db=self.db["history"])
        keys, more = [], cur.set_range(prefix)
        while more and cur.key().startswith(prefix):
            keys.append(bytes(cur.key()))
            more = cur.next()
        for key in keys[: max(0, len(keys) - space.history)]:
            txn.delete(key, db=self.db["history"])

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
