"""Typed store errors: each names what went wrong and what to do; the gRPC layer maps them to status codes."""

from __future__ import annotations


class StoreError(Exception):
    """Base class of every error the store raises on purpose."""


class InvalidArgument(StoreError):
    """A request is malformed (bad id, empty text, metadata too large, ...)."""


class NotFound(StoreError):
    """A namespace or document does not exist."""


class AlreadyExists(StoreError):
    """A namespace or document (CREATE mode) exists already."""


class VersionConflict(StoreError):
    """The document changed since the version the caller expected."""


class ModelMismatch(StoreError):
    """The store was written with another model; its encodings are not valid for this one."""


class StoreFull(StoreError):
    """The disk (or the configured map size limit) is full; the store stays readable."""


class CorruptData(StoreError):
    """A stored record or blob fails its checks (magic, version, checksum, shape)."""
