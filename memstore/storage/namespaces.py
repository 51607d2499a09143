"""Namespace records: create, read, list a page of those a caller may see."""

from __future__ import annotations

from collections.abc import Callable

from msa.memstore.errors import AlreadyExists, NotFound, Unavailable
from msa.memstore.storage.paging import page_size as checked_page_size
from msa.memstore.storage.records import (
    HISTORY_VERSIONS,
    Namespace,
    check_history,
    check_namespace,
    dump,
    load_namespace,
    namespace_key,
)
from msa.memstore.storage.transactions import Transactions

PURGING = b"purging\0"  # meta key prefix: + name of a deleted namespace whose records are still being removed


class Namespaces(Transactions):
    """Namespace records; a name being purged is not free yet."""

    def create_namespace(self, name: str, description: str = "", history: int = HISTORY_VERSIONS) -> Namespace:
        """`history`: earlier versions kept per document (text and metadata; 0: none)."""
        check_namespace(name)
        ns = Namespace(name, description, self.clock(), 0, 0, check_history(history))

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
        page_size = checked_page_size(page_size)
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

    def all_namespaces(self) -> list[Namespace]:
        out, token = [], ""
        while True:
            page, token = self.list_namespaces(1000, token)
            out += page
            if not token:
                return out

    def _put_namespace(self, txn, space: Namespace) -> None:
        txn.put(namespace_key(space.name), dump(space), db=self.db["namespaces"])
