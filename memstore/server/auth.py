"""Bearer tokens: a TOML tokens file maps each token to namespace globs and rights.

    [[tokens]]
    token = "s3cret-agent-token"        # or sha256 = "<hex digest of the token>"
    namespaces = ["agent-*"]            # fnmatch globs (required; ["*"] = every namespace)
    rights = ["read", "write"]          # read, write, admin (admin implies both and namespace admin)

Tokens are compared by SHA-256 digest in constant time and never logged.
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from msa.memstore.errors import InvalidArgument, PermissionDenied, Unauthenticated
from msa.memstore.server.config import load_toml

RIGHTS = ("read", "write", "admin")


@dataclass(frozen=True)
class Grant:
    digest: bytes  # sha256 of the token
    namespaces: tuple[str, ...]
    rights: frozenset[str]

    @property
    def whole_store(self) -> bool:
        """The grant covers every namespace (a "*" glob)."""
        return "*" in self.namespaces

    def allows(self, right: str, ns: str | None) -> bool:
        """`ns` None: a store-wide request (admin only)."""
        if "admin" not in self.rights and (right not in self.rights or ns is None):
            return False
        return ns is None or any(fnmatch.fnmatchcase(ns, glob) for glob in self.namespaces)


class CallContext:
    """What the servicer is called with: grpc's context of the call, and the caller's grant that the Gate
    found (None without a tokens file), passed on explicitly to what the caller may see."""

    def __init__(self, context: Any, grant: Grant | None) -> None:
        self._context, self.grant = context, grant

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


ENTRY_KEYS = {"token", "sha256", "namespaces", "rights"}


def parse_entry(e: object, where: str) -> Grant:
    """One [[tokens]] table -> its Grant."""
    if not isinstance(e, dict):
        raise InvalidArgument(f"{where}: must be a [[tokens]] table")
    if unknown := sorted(set(e) - ENTRY_KEYS):
        raise InvalidArgument(f"{where}: unknown keys {unknown}; the keys are {sorted(ENTRY_KEYS)}")
    if ("token" in e) == ("sha256" in e):
        raise InvalidArgument(f"{where}: give exactly one of token or sha256")
    rights, namespaces = e.get("rights"), e.get("namespaces")
    if not _strings(rights) or not set(rights) <= set(RIGHTS):
        raise InvalidArgument(f"{where}: rights must be a non-empty list drawn from {list(RIGHTS)}, "
                              'e.g. rights = ["read"]')
    if not _strings(namespaces):
        raise InvalidArgument(f'{where}: namespaces must be a non-empty list of globs, e.g. namespaces = ["team-a-*"] '
                              '(["*"] for every namespace)')
    if "token" in e:
        if not isinstance(e["token"], str) or not e["token"].strip() or e["token"] != e["token"].strip():
            raise InvalidArgument(f"{where}: token must be a non-empty string without surrounding spaces")
        raw = digest(e["token"])
    else:
        try:
            raw = bytes.fromhex(e["sha256"]) if isinstance(e["sha256"], str) else b""
        except ValueError:
            raw = b""
        if len(raw) != 32:
            raise InvalidArgument(f"{where}: sha256 must be 64 hex digits (sha256sum of the token)")
    return Grant(raw, tuple(namespaces), frozenset(rights))


def _strings(value: object) -> bool:
    """A non-empty list of non-empty strings."""
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) and v for v in value)


class Tokens:
    def __init__(self, grants: list[Grant]) -> None:
        self.grants = grants

    @classmethod
    def load(cls, path: str | Path) -> Tokens:
        """Parse and check a tokens file: every mistake is refused with its entry and what to write instead."""
        entries = load_toml(path).get("tokens", [])
        if not isinstance(entries, list) or not entries:
            raise InvalidArgument(f"{path}: no [[tokens]] entries; see msa.memstore.server.auth for the format")
        return cls([parse_entry(e, f"{path}: tokens entry {i + 1}") for i, e in enumerate(entries)])

    def grant(self, authorization: str | None) -> Grant:
        """The grant of an `authorization: Bearer <token>` header value."""
        if not authorization or not authorization.startswith("Bearer "):
            raise Unauthenticated("send the header `authorization: Bearer <token>` (msa --token / MSA_TOKEN)")
        token = authorization[len("Bearer "):].strip()
        if not token:
            raise Unauthenticated("the bearer token is empty; send `authorization: Bearer <token>`")
        d = digest(token)
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
