"""Bearer tokens: a TOML tokens file maps each token to namespace globs and rights.

    [[tokens]]
    token = "s3cret-agent-token"        # or sha256 = "<hex digest of the token>"
    namespaces = ["agent-*"]            # fnmatch globs
    rights = ["read", "write"]          # read, write, admin (admin implies both and namespace admin)

Tokens are compared by SHA-256 digest in constant time and never logged.
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
from dataclasses import dataclass
from pathlib import Path

from msa.memstore.config import load_toml
from msa.memstore.errors import InvalidArgument, PermissionDenied, Unauthenticated

RIGHTS = ("read", "write", "admin")


@dataclass(frozen=True)
class Grant:
    digest: bytes  # sha256 of the token
    namespaces: tuple[str, ...]
    rights: frozenset[str]

    def allows(self, right: str, ns: str | None) -> bool:
        """`ns` None: a store-wide request (admin only)."""
        if "admin" not in self.rights and (right not in self.rights or ns is None):
            return False
        return ns is None or any(fnmatch.fnmatchcase(ns, glob) for glob in self.namespaces)


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class Tokens:
    def __init__(self, grants: list[Grant]) -> None:
        self.grants = grants

    @classmethod
    def load(cls, path: str | Path) -> Tokens:
        entries = load_toml(path).get("tokens", [])
        if not isinstance(entries, list) or not entries:
            raise InvalidArgument(f"{path}: no [[tokens]] entries; see msa.memstore.auth for the format")
        grants = []
        for i, e in enumerate(entries):
            where = f"{path}: tokens entry {i + 1}"
            if ("token" in e) == ("sha256" in e):
                raise InvalidArgument(f"{where}: give exactly one of token or sha256")
            rights = frozenset(e.get("rights", []))
            if not rights or not rights <= set(RIGHTS):
                raise InvalidArgument(f"{where}: rights must be a non-empty subset of {list(RIGHTS)}")
            namespaces = tuple(e.get("namespaces", ["*"]))
            raw = digest(e["token"]) if "token" in e else bytes.fromhex(e["sha256"])
            if len(raw) != 32:
                raise InvalidArgument(f"{where}: sha256 must be 64 hex digits")
            grants.append(Grant(raw, namespaces, rights))
        return cls(grants)

    def grant(self, authorization: str | None) -> Grant:
        """The grant of an `authorization: Bearer <token>` header value."""
        if not authorization or not authorization.startswith("Bearer "):
            raise Unauthenticated("send the header `authorization: Bearer <token>` (msa --token / MSA_TOKEN)")
        d = digest(authorization[len("Bearer "):].strip())
        found = None
        for g in self.grants:  # no early exit: time does not depend on which grant matches
            if hmac.compare_digest(g.digest, d):
                found = g
        if found is None:
            raise Unauthenticated("unknown token")
        return found

    @staticmethod
    def check(grant: Grant, right: str, ns: str | None) -> None:
        if not grant.allows(right, ns):
            target = f"namespace {ns!r}" if ns is not None else "the whole store"
            raise PermissionDenied(f"this token has no {right} right on {target}")
