"""Writing documents: all-or-nothing batches (create or upsert), updates, deletes; blobs are compressed
before the write lock is taken."""

from __future__ import annotations

import time
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
    NewDocument,
    WriteResult,
    blob_key,
    blob_keys,
    check_id,
    check_metadata,
    document_key,
    dump,
    load_document,
    ordinal_key,
)

MODES = ("create", "upsert")


class Writes(Reads):
    """Document writes, each batch in one write transaction."""

    codec: blob.Codec  # how blobs are compressed (set by `Store`)

    def write(self, ns: str, documents: list[NewDocument], mode: str = "create") -> list[WriteResult]:
        """All-or-nothing batch write. `create`: an existing id fails the batch (AlreadyExists); `upsert`:
        an existing id is replaced (version + 1), unless text and metadata are unchanged (a no-op). A new
        document with an `origin` keeps its version and times."""
        if mode not in MODES:
            raise InvalidArgument(f"mode {mode!r} is not one of {MODES}")
        if not documents:
            raise InvalidArgument("a write needs at least one document")
        ids = [check_id(d.id) for d in documents]
        for d in documents:
            if d.origin is not None:
                d.origin.checked(d.id)
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
                        raise StaleOrdinal(f"document {doc.id!r} has ordinal {prev.ordinal}, not {doc.ordinal}")
                    if prev.text == doc.text and prev.metadata == doc.metadata:
                        out.append(WriteResult(doc.id, prev.version, prev.tokens, prev.ordinal, changed=False))
                        continue
                    rec = replace(prev, version=prev.version + 1, text=doc.text, metadata=dict(doc.metadata),
                                  tokens=len(doc.encoding.token_ids), chunks=doc.encoding.chunks, updated_at=now)
                else:
                    ordinal = next_ordinal if doc.ordinal is None else doc.ordinal
                    if ordinal < next_ordinal:
                        raise StaleOrdinal(f"ordinal {ordinal} of {doc.id!r} was used before; ordinals are "
                                              f"never reused (next free: {next_ordinal})")
                    version, created, updated = ((doc.origin.version, doc.origin.created_at, doc.origin.updated_at)
                                                 if doc.origin else (1, now, now))
                    rec = Document(ns, doc.id, ordinal, version, doc.text, dict(doc.metadata),
                                   len(doc.encoding.token_ids), doc.encoding.chunks, created, updated)
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
