"""Deleting a namespace: gone for readers in one transaction, its records removed afterwards in bounded
transactions (and finished when the store next opens if the process died first)."""

from __future__ import annotations

from msa.memstore.storage.namespaces import PURGING, Namespaces
from msa.memstore.storage.records import blob_keys, document_key, namespace_key

PURGE_DOCUMENTS = 256  # documents removed per write transaction of a purge


class Purge(Namespaces):
    """Namespace deletion in two steps, so no reader sees half a namespace and no writer waits long."""

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
            for db in ("documents", "blobs", "history"):  # earlier versions, and records no ordinal led to
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
