"""The engine: the one API over a store and a model (`Engine`, opened with `Engine.open` for one device or
many ranks), what it takes and gives (store records and model tokens included, so that callers need not
reach below it), and its limits."""

from msa.memstore.engine.core import Engine, binding_for
from msa.memstore.engine.options import (
    MAX_NEW_TOKENS,
    MAX_QUESTION_TOKENS,
    MAX_TOP_K,
    MAX_WRITE_BYTES,
    MAX_WRITE_DOCUMENTS,
    QueryOptions,
)
from msa.memstore.engine.results import Answer, Citation, Retrieval, WriteItem
from msa.memstore.engine.stats import Grant, StoreStats
from msa.memstore.storage.filters import DocumentFilter, TimeRange
from msa.memstore.storage.records import HISTORY_VERSIONS, Document, Namespace, Origin, WriteResult
from msa.model.generate import Token

__all__ = ["HISTORY_VERSIONS", "MAX_NEW_TOKENS", "MAX_QUESTION_TOKENS", "MAX_TOP_K", "MAX_WRITE_BYTES",
           "MAX_WRITE_DOCUMENTS", "Answer", "Citation", "Document", "DocumentFilter", "Engine", "Grant", "Namespace",
           "Origin", "QueryOptions", "Retrieval", "StoreStats", "TimeRange", "Token", "WriteItem", "WriteResult",
           "binding_for"]
