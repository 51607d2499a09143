"""What the store keeps, as plain dataclasses, and how records and keys are laid out in LMDB.

Sub-databases: `meta` (format version, model binding), `namespaces` (name -> record), `documents`
(namespace \\0 id -> record), `ordinals` (namespace \\0 ordinal -> id: creation order, pagination), `blobs`
(namespace \\0 kind layer ordinal -> tensor blob) and `history` (namespace \\0 id \\0 version -> an earlier
version's record, text and metadata, without encodings). Blob keys put kind and layer before the
ordinal so one layer's routing keys of a namespace are one contiguous key range. Records are JSON.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from dataclasses import asdict, dataclass, field

from torch import Tensor

from msa.memstore.errors import InvalidArgument, shown

FORMAT_VERSION = 1
MAX_ID_BYTES = 256
MAX_METADATA_BYTES = 16384
NAMESPACE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")

KEY_K, KEY_V, KEY_ROUTING, KEY_TOKENS = b"K", b"V", b"R", b"T"
TOKENS_LAYER = 0xFFFF  # token ids are one blob per document, not per layer


@dataclass(frozen=True)
class ModelBinding:
    """The model a store's encodings belong to: its fingerprint, router layers and MSA parameters."""

    fingerprint: str
    router_layers: tuple[int, ...]
    msa: dict = field(default_factory=dict)
    name: str = ""

    def to_json(self) -> bytes:
        return json.dumps(asdict(self) | {"router_layers": list(self.router_layers)}, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> ModelBinding:
        d = json.loads(data)
        return cls(d["fingerprint"], tuple(d["router_layers"]), d.get("msa", {}), d.get("name", ""))


HISTORY_VERSIONS = 10  # earlier versions a namespace keeps per document unless told


@dataclass(frozen=True)
class Namespace:
    name: str
    description: str
    created_at: float
    documents: int
    next_ordinal: int  # ordinals are never reused, even after deletes
    history: int = HISTORY_VERSIONS  # earlier versions kept per document (0: none)
    expiring: int = 0  # documents with an expiry time (the engine hides the expired ones while any)


@dataclass(frozen=True)
class Document:
    namespace: str
    id: str
    ordinal: int  # the MSA document number [i]; stable for the document's life
    version: int
    text: str
    metadata: dict[str, str]
    tokens: int
    chunks: int
    created_at: float
    updated_at: float
    expires_at: float = 0.0  # seconds since the epoch; 0 = never. Expired: invisible, reclaimed in the background
    deleted_at: float = 0.0  # a history record of a deleted document: when it was deleted

    def expired(self, now: float) -> bool:
        return 0 < self.expires_at <= now


@dataclass
class Encoding:
    """What the model made of one document: its token ids and, per router layer, the chunk-pooled
    keys, values and routing keys [C, G, D]."""

    token_ids: list[int]
    keys: dict[int, Tensor]
    values: dict[int, Tensor]
    routing_keys: dict[int, Tensor]

    @property
    def chunks(self) -> int:
        return next(iter(self.keys.values())).shape[0] if self.keys else 0


@dataclass(frozen=True)
class Origin:
    """Where a document comes from when it is moved, not written anew (`msa import`): the version and times it
    had in its first store, which its creation here keeps."""

    version: int
    created_at: float
    updated_at: float

    def checked(self, doc_id: str) -> Origin:
        if not isinstance(self.version, int) or isinstance(self.version, bool) or not 1 <= self.version < 1 << 62:
            raise InvalidArgument(f"document {doc_id!r}: version must be an integer >= 1 (below 2^62), not "
                                  f"{shown(self.version)}")
        for name, t in (("created_at", self.created_at), ("updated_at", self.updated_at)):
            if not (isinstance(t, int | float) and not isinstance(t, bool) and math.isfinite(t) and t >= 0):
                raise InvalidArgument(f"document {doc_id!r}: {name} must be seconds since the epoch, not {shown(t)}")
        if self.updated_at < self.created_at:
            raise InvalidArgument(f"document {doc_id!r}: updated_at is before created_at")
        return self


@dataclass(frozen=True)
class NewDocument:
    id: str
    text: str
    metadata: dict[str, str]
    encoding: Encoding
    ordinal: int | None = None  # chosen by the writer when the encoding embeds it (the MSA number [i])
    origin: Origin | None = None  # version and times kept when the document is created (an import)
    expires_at: float = 0.0  # seconds since the epoch; 0 = never


@dataclass(frozen=True)
class WriteResult:
    id: str
    version: int
    tokens: int
    ordinal: int
    changed: bool  # False for an UPSERT that found the same text and metadata


def check_namespace(name: str) -> str:
    if not isinstance(name, str) or not NAMESPACE_RE.fullmatch(name):
        raise InvalidArgument(f"namespace {shown(name)} must be 1-128 characters of letters, digits, '.', '_' or '-', "
                              "starting with a letter or digit")
    return name


def check_id(doc_id: str) -> str:
    if not isinstance(doc_id, str) or not doc_id:
        raise InvalidArgument("document id must be a non-empty string")
    if len(doc_id.encode()) > MAX_ID_BYTES:
        raise InvalidArgument(f"document id is {len(doc_id.encode())} bytes; at most {MAX_ID_BYTES}")
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in doc_id):
        raise InvalidArgument(f"document id {doc_id!r} contains control characters")
    return doc_id


def check_metadata(metadata: dict[str, str]) -> dict[str, str]:
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise InvalidArgument("metadata keys and values must be strings")
    size = len(json.dumps(metadata).encode())
    if size > MAX_METADATA_BYTES:
        raise InvalidArgument(f"metadata is {size} bytes as JSON; at most {MAX_METADATA_BYTES}")
    return dict(metadata)


def namespace_key(name: str) -> bytes:
    return name.encode()


def document_key(ns: str, doc_id: str) -> bytes:
    return ns.encode() + b"\0" + doc_id.encode()


def ordinal_key(ns: str, ordinal: int) -> bytes:
    return ns.encode() + b"\0" + ordinal.to_bytes(8, "big")


def history_prefix(ns: str, doc_id: str) -> bytes:
    return ns.encode() + b"\0" + doc_id.encode() + b"\0"


def history_key(ns: str, doc_id: str, version: int) -> bytes:
    return history_prefix(ns, doc_id) + version.to_bytes(8, "big")


def check_expiry(expires_at: float) -> float:
    if not (isinstance(expires_at, int | float) and not isinstance(expires_at, bool) and math.isfinite(expires_at)
            and expires_at >= 0):
        raise InvalidArgument(f"expires_at must be seconds since the epoch (0 = never), not {shown(expires_at)}")
    return float(expires_at)


def check_history(versions: int) -> int:
    if not isinstance(versions, int) or not 0 <= versions <= 1000:
        raise InvalidArgument(f"history versions must be 0-1000, not {shown(versions)}")
    return versions


def blob_prefix(ns: str, kind: bytes, layer: int) -> bytes:
    return ns.encode() + b"\0" + kind + layer.to_bytes(2, "big")


def blob_key(ns: str, kind: bytes, layer: int, ordinal: int) -> bytes:
    return blob_prefix(ns, kind, layer) + ordinal.to_bytes(8, "big")


def blob_keys(ns: str, ordinal: int, layers: tuple[int, ...]) -> list[bytes]:
    """Every blob key of one document."""
    keys = [blob_key(ns, kind, layer, ordinal) for layer in layers for kind in (KEY_K, KEY_V, KEY_ROUTING)]
    return [*keys, blob_key(ns, KEY_TOKENS, TOKENS_LAYER, ordinal)]


def dump(obj) -> bytes:
    return json.dumps(asdict(obj), ensure_ascii=False).encode()


def load_namespace(data: bytes) -> Namespace:
    return Namespace(**json.loads(data))


def load_document(data: bytes) -> Document:
    return Document(**json.loads(data))
