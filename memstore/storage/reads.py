"""Reading documents: by id or ordinal, a filtered List page, content K/V, a namespace's routing keys."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import torch

from msa.memstore.errors import NotFound, VersionConflict
from msa.memstore.storage import blob
from msa.memstore.storage.filters import NO_FILTER, DocumentFilter
from msa.memstore.storage.namespaces import Namespaces
from msa.memstore.storage.paging import page_size as checked_page_size
from msa.memstore.storage.paging import page_start
from msa.memstore.storage.records import (
    KEY_K,
    KEY_ROUTING,
    KEY_V,
    Document,
    blob_key,
    blob_prefix,
    check_id,
    document_key,
    history_prefix,
    load_document,
    ordinal_key,
)

MAX_LIST_SCAN = 10_000  # documents a List page reads at most (a filter that matches few ends the page early)


class Reads(Namespaces):
    """Document reads, each in one read transaction."""

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
        """The documents with these ordinals (absent and expired ones skipped), in one read transaction."""

        def op(txn) -> dict[int, Document]:
            out, now = {}, self.clock()
            for o in ordinals:
                doc_id = txn.get(ordinal_key(ns, o), db=self.db["ordinals"])
                if doc_id is not None:
                    rec = load_document(txn.get(document_key(ns, doc_id.decode()), db=self.db["documents"]))
                    if not rec.expired(now):
                        out[o] = rec
            return out

        return self._read(op)

    def list(self, ns: str, page_size: int = 100, page_token: str = "", where: dict[str, str] | None = None,
             flt: DocumentFilter = NO_FILTER) -> tuple[list[Document], str]:
        """Documents in creation (ordinal) order after `page_token`, those whose metadata holds every
        `where` pair and that `flt` passes; text left empty. A page reads at most `MAX_LIST_SCAN` documents,
        so one that few match may come short (even empty) with a next token. -> (page, next token or "")."""
        page_size = checked_page_size(page_size)
        start = page_start(page_token)
        where = where or {}
        now = self.clock()

        def op(txn) -> tuple[list[Document], str]:
            self._namespace(txn, ns)
            cur = txn.cursor(db=self.db["ordinals"])
            prefix = ns.encode() + b"\0"
            found = cur.set_range(ordinal_key(ns, start))
            out, last, scanned = [], None, 0
            while found and cur.key().startswith(prefix) and len(out) < page_size and scanned < MAX_LIST_SCAN:
                rec = load_document(txn.get(document_key(ns, cur.value().decode()), db=self.db["documents"]))
                last, scanned = rec.ordinal, scanned + 1
                if (all(rec.metadata.get(k) == v for k, v in where.items()) and flt.matches(rec)
                        and not rec.expired(now)):
                    out.append(replace(rec, text=""))
                found = cur.next()
            more = found and cur.key().startswith(prefix)
            return out, (str(last + 1) if more and last is not None else "")

        return self._read(op)

    def documents(self, ns: str) -> list[Document]:
        """Every document of a namespace, in one read transaction (what a filter's attribute table loads)."""
        return list(self.scan(ns))

    def scan(self, ns: str) -> Iterator[Document]:
        """Every live (not expired) document of a namespace in creation (ordinal) order, from one read
        transaction held while the iterator runs (one consistent state; an export)."""
        with self._read_txn() as txn:
            self._namespace(txn, ns)
            cur = txn.cursor(db=self.db["ordinals"])
            prefix, now = ns.encode() + b"\0", self.clock()
            found = cur.set_range(prefix)
            while found and cur.key().startswith(prefix):
                rec = load_document(txn.get(document_key(ns, cur.value().decode()), db=self.db["documents"]))
                if not rec.expired(now):
                    yield rec
                found = cur.next()

    def history(self, ns: str, doc_id: str) -> list[Document]:
        """Every version still kept of a document, newest first: the current one, then the earlier ones (a
        deleted or expired version has `deleted_at`). NotFound if none is kept."""
        check_id(doc_id)

        def op(txn) -> list[Document]:
            self._namespace(txn, ns)
            out = []
            current = txn.get(document_key(ns, doc_id), db=self.db["documents"])
            if current is not None:  # an expired one (not reclaimed yet) ended when it expired
                rec = load_document(current)
                out.append(replace(rec, deleted_at=rec.expires_at) if rec.expired(self.clock()) else rec)
            if self.db["history"] is not None:
                cur = txn.cursor(db=self.db["history"])
                prefix = history_prefix(ns, doc_id)
                found, earlier = cur.set_range(prefix), []
                while found and cur.key().startswith(prefix):
                    earlier.append(load_document(cur.value()))
                    found = cur.next()
                out += earlier[::-1]
            if not out:
                raise NotFound(f"document {doc_id!r} has no version in {ns!r}")
            return out

        return self._read(op)

    def history_records(self, ns: str) -> Iterator[Document]:
        """Every earlier version a namespace keeps, by id then version, from one read transaction (an export)."""
        if self.db["history"] is None:
            return
        with self._read_txn() as txn:
            self._namespace(txn, ns)
            cur = txn.cursor(db=self.db["history"])
            prefix = ns.encode() + b"\0"
            found = cur.set_range(prefix)
            while found and cur.key().startswith(prefix):
                yield load_document(cur.value())
                found = cur.next()

    def version(self, ns: str, doc_id: str, version: int) -> Document:
        """One version of a document: the current one or one the history keeps (NotFound otherwise)."""
        found = [d for d in self.history(ns, doc_id) if d.version == version]
        if not found:
            raise NotFound(f"version {version} of {doc_id!r} is not kept in {ns!r} (see its history)")
        return found[0]

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

    def _document(self, txn, ns: str, doc_id: str, expected_version: int = 0) -> Document:
        self._namespace(txn, ns)
        data = txn.get(document_key(ns, doc_id), db=self.db["documents"])
        if data is None:
            raise NotFound(f"document {doc_id!r} does not exist in {ns!r}")
        rec = load_document(data)
        if rec.expired(self.clock()):
            raise NotFound(f"document {doc_id!r} expired in {ns!r}")
        if expected_version and rec.version != expected_version:
            raise VersionConflict(f"document {doc_id!r} is at version {rec.version}, not {expected_version}; "
                                  "read it again and retry")
        return rec
