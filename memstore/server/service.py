"""The gRPC servicer: requests to engine calls and results to messages, nothing more. Blocking work runs
in threads; errors are typed `StoreError`s that the `Gate` interceptor turns into status codes."""

from __future__ import annotations

import asyncio
import contextvars
import math
from collections.abc import AsyncIterator

from msa.memstore.engine import Answer, Citation, Engine, Retrieval, WriteItem
from msa.memstore.errors import InvalidArgument, Unimplemented
from msa.memstore.server.auth import Grant
from msa.memstore.server.batcher import WriteBatcher
from msa.memstore.server.metrics import Metrics
from msa.memstore.server.pools import Pools
from msa.memstore.storage.records import Document, Namespace, WriteResult
from msa.model.generate import Token
from msa.proto import memory_pb2 as pb
from msa.proto import memory_pb2_grpc as pb_grpc

GRANT: contextvars.ContextVar[Grant | None] = contextvars.ContextVar("grant", default=None)
MODES = {pb.WRITE_MODE_UNSPECIFIED: "create", pb.CREATE: "create", pb.UPSERT: "upsert"}
MAX_NEW_TOKENS = 4096


class MemoryService(pb_grpc.MemoryServiceServicer):
    """Registered when the server starts; `attach` gives it the engine once loaded (the Gate answers
    UNAVAILABLE until then)."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def attach(self, engine: Engine, batcher: WriteBatcher, pools: Pools) -> None:
        self.engine, self.batcher, self.pools = engine, batcher, pools

    async def CreateNamespace(self, request, context) -> pb.Namespace:
        return namespace_pb(await self.pools.writes.run(self.engine.store.create_namespace, request.name,
                                                        request.description))

    async def ListNamespaces(self, request, context) -> pb.ListNamespacesResponse:
        grant = GRANT.get()
        spaces, token = await self.pools.scans.run(self.engine.store.list_namespaces, request.page_size,
                                                   request.page_token, lambda name: visible(grant, name))
        return pb.ListNamespacesResponse(namespaces=[namespace_pb(s) for s in spaces], next_page_token=token)

    async def DeleteNamespace(self, request, context) -> pb.DeleteNamespaceResponse:
        return pb.DeleteNamespaceResponse(
            deleted_documents=await self.pools.scans.run(self.engine.delete_namespace, request.name))

    async def Write(self, request, context) -> pb.WriteResponse:
        items = [WriteItem(d.text, dict(d.metadata), d.id or None) for d in request.documents]
        results = await self.batcher.write(request.namespace, items, MODES.get(request.mode, "?"))
        return pb.WriteResponse(results=[write_result_pb(r) for r in results])

    async def Update(self, request, context) -> pb.WriteResult:
        text = request.text if request.HasField("text") else None
        metadata = dict(request.metadata) if request.replace_metadata else None
        if request.metadata and not request.replace_metadata:
            raise InvalidArgument("metadata given without replace_metadata; set it to replace the metadata")
        return write_result_pb(await self.pools.writes.run(self.engine.update, request.namespace, request.id, text,
                                                           metadata, request.expected_version))

    async def Delete(self, request, context) -> pb.DeleteResponse:
        if request.expected_version and len(request.ids) != 1:
            raise InvalidArgument("expected_version needs exactly one id")
        gone = await self.pools.writes.run(self.engine.delete, request.namespace, list(request.ids),
                                           request.expected_version)
        return pb.DeleteResponse(deleted=len(gone))

    async def Get(self, request, context) -> pb.Document:
        return document_pb(await asyncio.to_thread(self.engine.store.get, request.namespace, request.id))

    async def List(self, request, context) -> pb.ListResponse:
        docs, token = await self.pools.scans.run(self.engine.store.list, request.namespace, request.page_size,
                                                 request.page_token, dict(request.metadata_filter))
        return pb.ListResponse(documents=[document_pb(d) for d in docs], next_page_token=token)

    async def Retrieve(self, request, context) -> pb.RetrieveResponse:
        if not request.query.strip():
            raise InvalidArgument("the query is empty")
        # a routing pass is model work: admitted like a Query
        found = await self.pools.questions.run(self.engine.retrieve, request.namespace, request.query,
                                               request.top_k or 8, cancellable=True)
        return pb.RetrieveResponse(documents=[citation_pb(c) for c in found])

    async def Query(self, request, context) -> AsyncIterator[pb.QueryEvent]:
        question = query_text(request)
        if request.interleave_rounds > 1:
            raise Unimplemented("Memory Interleave (interleave_rounds > 1) is not served yet; use 0 or 1")
        if not 0 <= request.max_new_tokens <= MAX_NEW_TOKENS:
            raise InvalidArgument(f"max_new_tokens must be in [1, {MAX_NEW_TOKENS}] (0 = 256)")
        if not (math.isfinite(request.temperature) and request.temperature >= 0 and 0 <= request.top_p <= 1):
            raise InvalidArgument("temperature must be a finite number >= 0 and top_p in [0, 1]")
        if request.read_mode not in ("", "kv", "text"):
            raise InvalidArgument(f"read_mode must be kv or text, got {request.read_mode!r}")
        kwargs = dict(top_k=request.top_k or None, read_mode=request.read_mode or None,
                      max_new_tokens=request.max_new_tokens or 256, temperature=request.temperature,
                      top_p=request.top_p or 1.0, seed=request.seed)
        async for event in self.pools.questions.stream(self.engine.query, request.namespace, question, **kwargs):
            if isinstance(event, Retrieval):
                yield pb.QueryEvent(retrieval=pb.RetrievalEvent(
                    round=1, documents=[citation_pb(c) for c in event.citations]))
            elif isinstance(event, Token):
                yield pb.QueryEvent(token=pb.TokenEvent(text=event.text))
            else:
                self.metrics.query_phases(event.timings_ms)
                yield pb.QueryEvent(final=final_pb(event))

    async def Stats(self, request, context) -> pb.StatsResponse:
        stats = await self.pools.scans.run(self.engine.store.stats)  # reads every record of the store
        spaces = stats["namespaces"]
        grant = GRANT.get()
        if request.namespace:
            if request.namespace not in spaces:
                await asyncio.to_thread(self.engine.store.namespace, request.namespace)  # NotFound
            spaces = {request.namespace: spaces.get(request.namespace)}
        else:  # a token scoped to some namespaces sees the sums over those alone
            spaces = {name: s for name, s in spaces.items() if visible(grant, name)}
        index, cache = self.engine.index, self.engine.cache
        whole = grant is None or grant.whole_store  # process-wide sizes describe every tenant together
        return pb.StatsResponse(
            documents=sum(s["documents"] for s in spaces.values()), tokens=sum(s["tokens"] for s in spaces.values()),
            chunks=sum(s["chunks"] for s in spaces.values()), bytes_on_disk=stats["file_bytes"] if whole else 0,
            stored_bytes=sum(b[1] for s in spaces.values() for b in s["bytes"].values()),
            raw_bytes=sum(b[0] for s in spaces.values() for b in s["bytes"].values()),
            device_resident_bytes=index.resident_bytes if whole else 0,
            host_resident_bytes=index.host_bytes if whole else 0, cache_bytes=cache.bytes if whole else 0,
            model=stats["model"], model_fingerprint=stats["fingerprint"], namespaces=len(spaces))


def visible(grant: Grant | None, name: str) -> bool:
    """Whether a caller (None: no tokens file) may see that namespace exists: a read right on it."""
    return grant is None or grant.allows("read", name)


def query_text(request: pb.QueryRequest) -> str:
    """The question: `query`, or the last user message of `messages`."""
    if request.query and request.messages:
        raise InvalidArgument("give query or messages, not both")
    if request.messages:
        users = [m.content for m in request.messages if m.role == "user"]
        if not users:
            raise InvalidArgument("messages hold no user message")
        return users[-1]
    if not request.query.strip():
        raise InvalidArgument("the query is empty")
    return request.query


def namespace_pb(s: Namespace) -> pb.Namespace:
    return pb.Namespace(name=s.name, description=s.description, documents=s.documents, created_at=s.created_at)


def write_result_pb(r: WriteResult) -> pb.WriteResult:
    return pb.WriteResult(id=r.id, version=r.version, tokens=r.tokens, changed=r.changed)


def document_pb(d: Document) -> pb.Document:
    return pb.Document(id=d.id, namespace=d.namespace, text=d.text, metadata=d.metadata, version=d.version,
                       tokens=d.tokens, created_at=d.created_at, updated_at=d.updated_at, ordinal=d.ordinal)


def citation_pb(c: Citation) -> pb.Citation:
    return pb.Citation(id=c.id, version=c.version, score=c.score, ordinal=c.ordinal)


def final_pb(a: Answer) -> pb.FinalEvent:
    t = a.timings_ms
    return pb.FinalEvent(
        answer=a.text, citations=[citation_pb(c) for c in a.citations], stop_reason=a.stop_reason,
        read_mode=a.read_mode,
        usage=pb.Usage(prompt_tokens=a.prompt_tokens, completion_tokens=a.completion_tokens,
                       memory_documents=a.memory_documents),
        timings=pb.Timings(route_ms=t["route"], fetch_ms=t["fetch"], prefill_ms=t["prefill"],
                           decode_ms=t["decode"], total_ms=t["total"]))
