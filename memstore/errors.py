"""Typed errors: each names what went wrong and what to do; `code` is the gRPC status the server answers with
(kept as a name so this module needs no grpc)."""

from __future__ import annotations


def shown(value: object, limit: int = 64) -> str:
    """repr(value) cut to about `limit` characters: errors echo what was sent without echoing megabytes."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


class StoreError(Exception):
    """Base class of every error raised on purpose."""

    code = "INTERNAL"


class InvalidArgument(StoreError):
    """A request is malformed (bad id, empty text, metadata too large, ...)."""

    code = "INVALID_ARGUMENT"


class StaleOrdinal(InvalidArgument):
    """A write names a document with an ordinal the store cannot give it (already used, or not the document's
    own). The engine re-plans such a write once: it was encoded while an earlier write it relied on failed or a
    delete went first."""


class NotFound(StoreError):
    """A namespace or document does not exist."""

    code = "NOT_FOUND"


class AlreadyExists(StoreError):
    """A namespace or document (CREATE mode) exists already."""

    code = "ALREADY_EXISTS"


class VersionConflict(StoreError):
    """The document changed since the version the caller expected."""

    code = "ABORTED"


class ModelMismatch(StoreError):
    """The store was written with another model; its encodings are not valid for this one."""

    code = "FAILED_PRECONDITION"


class StoreBusy(StoreError):
    """Another process has the store open for writing (one writer per store: `msa serve`, `msa load`)."""

    code = "FAILED_PRECONDITION"


class StoreFull(StoreError):
    """The disk (or the configured map size limit) is full; the store stays readable."""

    code = "RESOURCE_EXHAUSTED"


class CorruptData(StoreError):
    """A stored record or blob fails its checks (magic, version, checksum, shape)."""

    code = "DATA_LOSS"


class Unauthenticated(StoreError):
    """No valid bearer token."""

    code = "UNAUTHENTICATED"


class PermissionDenied(StoreError):
    """The token lacks the right for this namespace."""

    code = "PERMISSION_DENIED"


class Overloaded(StoreError):
    """Too many requests in flight; retry with backoff."""

    code = "RESOURCE_EXHAUSTED"


class Unavailable(StoreError):
    """The server is starting or shutting down, or a namespace's name is still held by its deletion: retry."""

    code = "UNAVAILABLE"

