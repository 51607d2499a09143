"""MemoryService requests built from plain Python arguments: one definition that the synchronous client
(`client.MemoryClient`) and the asyncio one (`aio_client.AsyncMemoryClient`) share, so both accept the
same arguments and send the same messages."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from msa.proto import memory_pb2 as pb

Span = tuple[float | None, float | None]  # (after inclusive, before exclusive), seconds since the Unix epoch
Where = Mapping[str, str | Sequence[str]]  # key -> its value, or any of several values


def filter_pb(where: Where | None = None, created: Span | None = None, updated: Span | None = None) -> pb.Filter:
    """A filter: every `where` key holds its value (or one of its values), created_at / updated_at within
    the spans (None: open)."""
    conditions = [pb.MetadataCondition(key=k, any_of=[v] if isinstance(v, str) else list(v))
                  for k, v in (where or {}).items()]
    return pb.Filter(metadata=conditions, created=time_range_pb(created), updated=time_range_pb(updated))


def time_range_pb(span: Span | None) -> pb.TimeRange:
    after, before = span or (None, None)
    message = pb.TimeRange()
    if after is not None:
        message.after = after
    if before is not None:
        message.before = before
    return message


def write_request(namespace: str, documents: list[dict], upsert: bool = False) -> pb.WriteRequest:
    """documents: dicts with text and optional id, metadata, and expires_at (epoch seconds) or ttl_seconds."""
    docs = [pb.NewDocument(id=d.get("id") or "", text=d["text"], metadata=d.get("metadata") or {},
                           expires_at=d.get("expires_at") or 0.0, ttl_seconds=d.get("ttl_seconds") or 0.0)
            for d in documents]
    return pb.WriteRequest(namespace=namespace, documents=docs, mode=pb.UPSERT if upsert else pb.CREATE)


def update_request(namespace: str, doc_id: str, text: str | None = None, metadata: dict[str, str] | None = None,
                   expected_version: int = 0, expires_at: float | None = None, ttl_seconds: float | None = None
                   ) -> pb.UpdateRequest:
    """None leaves a part unchanged; expires_at 0 clears an expiry."""
    request = pb.UpdateRequest(namespace=namespace, id=doc_id, metadata=metadata or {},
                               replace_metadata=metadata is not None, expected_version=expected_version)
    if text is not None:
        request.text = text
    if expires_at is not None:
        request.expires_at = expires_at
    if ttl_seconds is not None:
        request.ttl_seconds = ttl_seconds
    return request


def create_namespace_request(name: str, description: str = "", history_versions: int | None = None
                             ) -> pb.CreateNamespaceRequest:
    request = pb.CreateNamespaceRequest(name=name, description=description)
    if history_versions is not None:
        request.history_versions = history_versions
    return request


def list_request(namespace: str, page_token: str, page_size: int = 100, where: Where | None = None,
                 created: Span | None = None, updated: Span | None = None) -> pb.ListRequest:
    return pb.ListRequest(namespace=namespace, page_size=page_size, page_token=page_token,
                          filter=filter_pb(where, created, updated))


def retrieve_request(namespace: str, query: str, top_k: int = 8, include_text: bool = False,
                     where: Where | None = None, created: Span | None = None, updated: Span | None = None,
                     read_mode: str = "") -> pb.RetrieveRequest:
    return pb.RetrieveRequest(namespace=namespace, query=query, top_k=top_k, include_text=include_text,
                              filter=filter_pb(where, created, updated), read_mode=read_mode)


def query_request(namespace: str, question: str, where: Where | None = None, created: Span | None = None,
                  updated: Span | None = None, **options) -> pb.QueryRequest:
    """options: top_k, max_new_tokens, temperature, top_p, seed, read_mode, interleave_rounds."""
    return pb.QueryRequest(namespace=namespace, query=question, filter=filter_pb(where, created, updated),
                           **options)
