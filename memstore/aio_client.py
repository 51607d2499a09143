"""An asyncio client for MemoryService (`grpc.aio`), with the methods and arguments of the synchronous
`client.MemoryClient` (the requests come from `requests`, shared by both):

    async with AsyncMemoryClient("127.0.0.1:50051", token="...") as client:
        await client.write("notes", [{"text": "Ada prefers tea.", "metadata": {"topic": "food"}}])
        async for event in client.query("notes", "What does Ada drink?"):
            ...

Errors come back as `ClientError` with the gRPC status code name and the server's message.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from msa.memstore import requests
from msa.memstore.client import ClientError
from msa.memstore.requests import Span, Where
from msa.proto import memory_pb2 as pb
from msa.proto import memory_pb2_grpc as pb_grpc


class AsyncMemoryClient:
    def __init__(self, target: str, token: str | None = None, tls_ca: str | None = None,
                 timeout: float | None = 60.0) -> None:
        if tls_ca:
            self.channel = grpc.aio.secure_channel(target, grpc.ssl_channel_credentials(Path(tls_ca).read_bytes()))
        else:
            self.channel = grpc.aio.insecure_channel(target)
        self.stub = pb_grpc.MemoryServiceStub(self.channel)
        self.metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self.timeout = timeout

    async def __aenter__(self) -> AsyncMemoryClient:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def close(self) -> None:
        await self.channel.close()

    async def _call(self, rpc: str, request, timeout: float | None = None):
        try:
            return await getattr(self.stub, rpc)(request, metadata=self.metadata, timeout=timeout or self.timeout)
        except grpc.RpcError as e:
            raise ClientError(e.code().name, e.details() or "") from None

    async def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait until the server reports SERVING (it loads its model first)."""
        try:
            stub = health_pb2_grpc.HealthStub(self.channel)
            async for update in stub.Watch(health_pb2.HealthCheckRequest(service=""), timeout=timeout,
                                           wait_for_ready=True):
                if update.status == health_pb2.HealthCheckResponse.SERVING:
                    return
        except grpc.RpcError as e:
            raise ClientError(e.code().name, e.details() or "") from None

    async def create_namespace(self, name: str, description: str = "", history_versions: int | None = None
                         ) -> pb.Namespace:
        """history_versions: earlier versions kept per document (0-1000) [10]."""
        request = requests.create_namespace_request(name, description, history_versions)
        return await self._call("CreateNamespace", request)

    async def list_namespaces(self) -> list[pb.Namespace]:
        out, token = [], ""
        while True:
            page = await self._call("ListNamespaces", pb.ListNamespacesRequest(page_size=1000, page_token=token))
            out += page.namespaces
            if not (token := page.next_page_token):
                return out

    async def delete_namespace(self, name: str) -> int:
        return (await self._call("DeleteNamespace", pb.DeleteNamespaceRequest(name=name))).deleted_documents

    async def write(self, namespace: str, documents: list[dict], upsert: bool = False) -> list[pb.WriteResult]:
        """documents: dicts with text and optional id and metadata."""
        return list((await self._call("Write", requests.write_request(namespace, documents, upsert))).results)

    async def update(self, namespace: str, doc_id: str, text: str | None = None,
                     metadata: dict[str, str] | None = None, expected_version: int = 0,
                     expires_at: float | None = None, ttl_seconds: float | None = None) -> pb.WriteResult:
        """None leaves a part unchanged; expires_at 0 clears an expiry."""
        return await self._call("Update", requests.update_request(namespace, doc_id, text, metadata,
                                                                  expected_version, expires_at, ttl_seconds))

    async def delete(self, namespace: str, ids: list[str], expected_version: int = 0) -> int:
        request = pb.DeleteRequest(namespace=namespace, ids=ids, expected_version=expected_version)
        return (await self._call("Delete", request)).deleted

    async def get(self, namespace: str, doc_id: str, version: int = 0) -> pb.Document:
        """The current version, or an earlier one the history keeps."""
        return await self._call("Get", pb.GetRequest(namespace=namespace, id=doc_id, version=version))

    async def history(self, namespace: str, doc_id: str) -> list[pb.Document]:
        """Every version kept, newest first."""
        return list((await self._call("History", pb.HistoryRequest(namespace=namespace, id=doc_id))).versions)

    async def list(self, namespace: str, where: Where | None = None, page_size: int = 100,
                   created: Span | None = None, updated: Span | None = None) -> AsyncIterator[pb.Document]:
        """Every document (without text) in creation order, page by page (as `MemoryClient.list`)."""
        token = ""
        while True:
            page = await self._call("List", requests.list_request(namespace, token, page_size, where, created,
                                                                  updated))
            for doc in page.documents:
                yield doc
            if not (token := page.next_page_token):
                return

    async def retrieve(self, namespace: str, query: str, top_k: int = 8, include_text: bool = False,
                       where: Where | None = None, created: Span | None = None, updated: Span | None = None,
                       read_mode: str = "") -> list[pb.Citation]:
        """The documents a Query would read, at most top_k, best first (as `MemoryClient.retrieve`)."""
        request = requests.retrieve_request(namespace, query, top_k, include_text, where, created, updated, read_mode)
        return list((await self._call("Retrieve", request)).documents)

    async def query(self, namespace: str, question: str, timeout: float | None = None, **options
                    ) -> AsyncIterator[pb.QueryEvent]:
        """QueryEvents as they stream (as `MemoryClient.query`); leaving the loop early cancels the call."""
        call = self.stub.Query(requests.query_request(namespace, question, **options), metadata=self.metadata,
                               timeout=timeout or self.timeout)
        try:
            async for event in call:
                yield event
        except grpc.RpcError as e:
            raise ClientError(e.code().name, e.details() or "") from None
        finally:
            call.cancel()

    async def stats(self, namespace: str = "") -> pb.StatsResponse:
        return await self._call("Stats", pb.StatsRequest(namespace=namespace))
