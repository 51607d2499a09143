"""The gRPC servicer: requests to engine calls and results to messages, nothing more. Blocking work runs
in threads; errors are typed `StoreError`s that the `Gate` interceptor turns into status codes."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from dataclasses import asdict

from msa.memstore.engine import (
    HISTORY_VERSIONS,
    Answer,
    Citation,
    Document,
    DocumentFilter,
    Engine,
    Namespace,
    QueryOptions,
    Retrieval,
    TimeRange,
    Token,
    WriteItem,
    WriteResult,
)
from msa.memstore.errors import InvalidArgument
from msa.memstore.server.auth import CallContext
from msa.memstore.server.metrics import Metrics
from msa.memstore.server.pools import Pools
from msa.proto import memory_pb2 as pb
from msa.proto import memory_pb2_grpc as pb_grpc

MODES = {pb.WRITE_MODE_UNSPECIFIED: "create", pb.CREATE: "create", pb.UPSERT: "upsert"}


class MemoryService(pb_grpc.MemoryServiceServicer):
    """Registered when the server starts; `attach` gives it the engine once loaded (the Gate answers
    UNAVAILABLE until then). The Gate calls it with a `CallContext`, which carries the caller's grant."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def attach(self, engine: Engine, pools: Pools) -> None:
        self.engine, self.pools = engine, pools

    async def CreateNamespace(self, request, context: CallContext) -> pb.Namespace:
        history = request.history_versions if request.HasField("history_versions") else HISTORY_VERSIONS
        return namespace_pb(await self.pools.writes.run(self.engine.create_namespace, request.name,
                                                        request.description, history))

    async def ListNamespaces(self, request, context: CallContext) -> pb.ListNamespacesResponse:
        spaces, token = await self.pools.scans.run(self.engine.list_namespaces, request.page_size,
                                                   request.page_token, context.grant)
        return pb.ListNamespacesResponse(namespaces=[namespace_pb(s) for s in spaces], next_page_token=token)

    async def DeleteNamespace(self, request, context: CallContext) -> pb.DeleteNamespaceResponse:
        return pb.DeleteNamespaceResponse(
            deleted_documents=await self.pools.scans.run(self.engine.delete_namespace, request.name))

    async def Write(self, request, context: CallContext) -> pb.WriteResponse:
        items = [WriteItem(d.text, dict(d.metadata), d.id or None,
                           expires_at=self.engine.expiry(d.expires_at, d.ttl_seconds)) for d in request.documents]
        results = await self.pools.ingest.run(self.engine.write, request.namespace, items,
                                              MODES.get(request.mode, "?"))
        return pb.WriteResponse(results=[write_result_pb(r) for r in results])

    async def Update(self, request, context: CallContext) -> pb.WriteResult:
        text = request.text if request.HasField("text") else None
        metadata = dict(request.metadata) if request.replace_metadata else None
        if request.metadata and not request.replace_metadata:
            raise InvalidArgument("metadata given without replace_metadata; set it to replace the metadata")
        expires = None
        if request.HasField("expires_at") or request.HasField("ttl_seconds"):
            expires = self.engine.expiry(request.expires_at, request.ttl_seconds)
            if request.HasField("ttl_seconds") and not request.ttl_seconds:
                raise InvalidArgument("ttl_seconds must be a positive number; clear an expiry with expires_at 0")
        return write_result_pb(await self.pools.writes.run(self.engine.update, request.namespace, request.id, text,
                                                           metadata, request.expected_version, expires))

    async def Delete(self, request, context: CallContext) -> pb.DeleteResponse:
        if request.expected_version and len(request.ids) != 1:
            raise InvalidArgument("expected_version needs exactly one id")
        gone = await self.pools.writes.run(self.engine.delete, request.namespace, list(request.ids),
                                           request.expected_version)
        return pb.DeleteResponse(deleted=len(gone))

    async def Get(self, request, context: CallContext) -> pb.Document:
        return document_pb(await asyncio.to_thread(self.engine.get, request.namespace, request.id, request.version))

    async def History(self, request, context: CallContext) -> pb.HistoryResponse:
        versions = await asyncio.to_thread(self.engine.history, request.namespace, request.id)
        return pb.HistoryResponse(versions=[document_pb(d) for d in versions])

    async def List(self, request, context: CallContext) -> pb.ListResponse:
        docs, token = await self.pools.scans.run(self.engine.list, request.namespace, request.page_size,
                                                 request.page_token, dict(request.metadata_filter),
                                                 filter_of(request.filter))
        return pb.ListResponse(documents=[document_pb(d) for d in docs], next_page_token=token)

    async def Retrieve(self, request, context: CallContext) -> pb.RetrieveResponse:
        self.engine.check_question(request.query)  # before the question waits for the model
        retrieve = functools.partial(self.engine.retrieve, with_text=request.include_text,
                                     flt=filter_of(request.filter), read_mode=request.read_mode or None,
                                     **({"top_k": request.top_k} if request.top_k else {}))
        # a routing pass is model work: admitted like a Query
        found = await self.pools.questions.run(retrieve, request.namespace, request.query, cancellable=True)
        return pb.RetrieveResponse(documents=[citation_pb(c) for c in found])

    async def Query(self, request, context: CallContext) -> AsyncIterator[pb.QueryEvent]:
        question = query_text(request)
        options = query_options(request)  # checked before the question waits for the model
        self.engine.check_question(question, options.max_new_tokens)
        async for event in self.pools.questions.stream(self.engine.query, request.namespace, question,
                                                       flt=filter_of(request.filter), **asdict(options)):
            if isinstance(event, Retrieval):
                yield pb.QueryEvent(retrieval=pb.RetrievalEvent(
                    round=event.round, documents=[citation_pb(c) for c in event.citations],
                    retrieval_ms=event.retrieval_ms))
            elif isinstance(event, Token):
                yield pb.QueryEvent(token=pb.TokenEvent(text=event.text))
            else:
                self.metrics.query_phases(event.timings_ms)
                yield pb.QueryEvent(final=final_pb(event))

    async def Stats(self, request, context: CallContext) -> pb.StatsResponse:
        stats = await self.pools.scans.run(self.engine.stats, request.namespace or None, context.grant)
        return pb.StatsResponse(**asdict(stats))


def query_options(request: pb.QueryRequest) -> QueryOptions:
    """The request's options: a proto3 field left at zero is unset, so the engine's default applies."""
    given = {"top_k": request.top_k, "read_mode": request.read_mode, "max_new_tokens": request.max_new_tokens,
             "top_p": request.top_p, "interleave_rounds": request.interleave_rounds}
    return QueryOptions(temperature=request.temperature, seed=request.seed,
                        **{name: value for name, value in given.items() if value})


def filter_of(message: pb.Filter) -> DocumentFilter:
    """The request's filter, checked (an unset one passes every document)."""
    return DocumentFilter.of([(c.key, list(c.any_of)) for c in message.metadata], time_range(message.created),
                             time_range(message.updated))


def time_range(message: pb.TimeRange) -> TimeRange:
    return TimeRange(message.after if message.HasField("after") else None,
                     message.before if message.HasField("before") else None)


def query_text(request: pb.QueryRequest) -> str:
    """The question: `query`, or the last user message of `messages`."""
    if request.query and request.messages:
        raise InvalidArgument("give query or messages, not both")
    if request.messages:
        users = [m.content for m in request.messages if m.role == "user"]
        if not users:
            raise InvalidArgument("messages hold no user message")
        return users[-1]
    return request.query


def namespace_pb(s: Namespace) -> pb.Namespace:
    return pb.Namespace(name=s.name, description=s.description, documents=s.documents, created_at=s.created_at,
                        history_versions=s.history)


def write_result_pb(r: WriteResult) -> pb.WriteResult:
    return pb.WriteResult(id=r.id, version=r.version, tokens=r.tokens, changed=r.changed)


def document_pb(d: Document) -> pb.Document:
    return pb.Document(id=d.id, namespace=d.namespace, text=d.text, metadata=d.metadata, version=d.version,
                       tokens=d.tokens, created_at=d.created_at, updated_at=d.updated_at, ordinal=d.ordinal,
                       expires_at=d.expires_at, deleted_at=d.deleted_at)


def citation_pb(c: Citation) -> pb.Citation:
    return pb.Citation(id=c.id, version=c.version, score=c.score, ordinal=c.ordinal, round=c.round, text=c.text,
                       metadata=c.metadata)


def final_pb(a: Answer) -> pb.FinalEvent:
    t = a.timings_ms
    return pb.FinalEvent(
        answer=a.text, citations=[citation_pb(c) for c in a.citations], stop_reason=a.stop_reason,
        read_mode=a.read_mode,
        usage=pb.Usage(prompt_tokens=a.prompt_tokens, completion_tokens=a.completion_tokens,
                       memory_documents=a.memory_documents),
        timings=pb.Timings(route_ms=t["route"], fetch_ms=t["fetch"], prefill_ms=t["prefill"],
                           decode_ms=t["decode"], total_ms=t["total"]))
