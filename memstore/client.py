"""A small synchronous client for MemoryService: what the CLI and `msa demo` use, and a model for agents.

    with MemoryClient("127.0.0.1:50051", token="...") as client:
        client.write("notes", [{"text": "Ada prefers tea.", "metadata": {"topic": "food"}}])
        for event in client.query("notes", "What does Ada drink?"):
            ...

Errors come back as `ClientError` with the gRPC status code name and the server's message.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from msa.memstore import requests
from msa.memstore.requests import Span, Where
from msa.proto import memory_pb2 as pb
from msa.proto import memory_pb2_grpc as pb_grpc


class ClientError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


class MemoryClient:
    def __init__(self, target: str, token: str | None = None, tls_ca: str | None = None,
                 timeout: float | None = 60.0) -> None:
        if tls_ca:
            self.channel = grpc.secure_channel(target, grpc.ssl_channel_credentials(Path(tls_ca).read_bytes()))
        else:
            self.channel = grpc.insecure_channel(target)
        self.stub = pb_grpc.MemoryServiceStub(self.channel)
        self.metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self.timeout = timeout

    def __enter__(self) -> MemoryClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.channel.close()

    def _call(self, rpc: str, request, timeout: float | None = None):
        try:
            return getattr(self.stub, rpc)(request, metadata=self.metadata, timeout=timeout or self.timeout)
        except grpc.RpcError as e:
            raise ClientError(e.code().name, e.details() or "") from None

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Block until the server reports SERVING (it loads its model first)."""
        try:
            grpc.channel_ready_future(self.channel).result(timeout=timeout)
            stub = health_pb2_grpc.HealthStub(self.channel)
            response = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout,
                                  wait_for_ready=True)
            if response.status != health_pb2.HealthCheckResponse.SERVING:
                for update in stub.Watch(health_pb2.HealthCheckRequest(service=""), timeout=timeout):
                    if update.status == health_pb2.HealthCheckResponse.SERVING:
                        return
        except grpc.FutureTimeoutError:
            raise ClientError("UNAVAILABLE", "no server answered; is `msa serve` running there?") from None
        except grpc.RpcError as e:
            raise ClientError(e.code().name, e.details() or "") from None

    def create_namespace(self, name: str, description: str = "", history_versions: int | None = None
                         ) -> pb.Namespace:
        """history_versions: earlier versions kept per document (0-1000) [10]."""
        return self._call("CreateNamespace", requests.create_namespace_request(name, description, history_versions))

    def list_namespaces(self) -> list[pb.Namespace]:
        out, token = [], ""
        while True:
            page = self._call("ListNamespaces", pb.ListNamespacesRequest(page_size=1000, page_token=token))
            out += page.namespaces
            if not (token := page.next_page_token):
                return out

    def delete_namespace(self, name: str) -> int:
        return self._call("DeleteNamespace", pb.DeleteNamespaceRequest(name=name)).deleted_documents

    def write(self, namespace: str, documents: list[dict], upsert: bool = False) -> list[pb.WriteResult]:
        """documents: dicts with text and optional id and metadata."""
        return list(self._call("Write", requests.write_request(namespace, documents, upsert)).results)

    def update(self, namespace: str, doc_id: str, text: str | None = None, metadata: dict[str, str] | None = None,
               expected_version: int = 0, expires_at: float | None = None, ttl_seconds: float | None = None
               ) -> pb.WriteResult:
        """None leaves a part unchanged; expires_at 0 clears an expiry."""
        return self._call("Update", requests.update_request(namespace, doc_id, text, metadata, expected_version,
                                                            expires_at, ttl_seconds))

    def delete(self, namespace: str, ids: list[str], expected_version: int = 0) -> int:
        request = pb.DeleteRequest(namespace=namespace, ids=ids, expected_version=expected_version)
        return self._call("Delete", request).deleted

    def get(self, namespace: str, doc_id: str, version: int = 0) -> pb.Document:
        """The current version, or an earlier one the history keeps."""
        return self._call("Get", pb.GetRequest(namespace=namespace, id=doc_id, version=version))

    def history(self, namespace: str, doc_id: str) -> list[pb.Document]:
        """Every version kept, newest first."""
        return list((self._call("History", pb.HistoryRequest(namespace=namespace, id=doc_id))).versions)

    def list(self, namespace: str, where: Where | None = None, page_size: int = 100, created: Span | None = None,
             updated: Span | None = None) -> Iterator[pb.Document]:
        """Every document (without text) in creation order, page by page; `where`: key -> value or any of
        several values; `created` / `updated`: (after, before) in seconds since the epoch, None open."""
        token = ""
        while True:
            page = self._call("List", requests.list_request(namespace, token, page_size, where, created, updated))
            yield from page.documents
            if not (token := page.next_page_token):
                return

    def retrieve(self, namespace: str, query: str, top_k: int = 8, include_text: bool = False,
                 where: Where | None = None, created: Span | None = None, updated: Span | None = None,
                 read_mode: str = "") -> list[pb.Citation]:
        """The documents a Query would read, at most top_k, best first; with `include_text`, each with its
        text and metadata (to put in another model's prompt); the filter as in `list`."""
        return list(self._call("Retrieve", requests.retrieve_request(namespace, query, top_k, include_text, where,
                                                                     created, updated, read_mode)).documents)

    def query(self, namespace: str, question: str, timeout: float | None = None, **options) -> Iterator[pb.QueryEvent]:
        """Stream QueryEvents (retrieval per round, tokens, final). options: top_k, max_new_tokens, temperature,
        top_p, seed, read_mode, interleave_rounds, and the filter's where, created, updated (as in `list`)."""
        request = requests.query_request(namespace, question, **options)
        stream = self.stub.Query(request, metadata=self.metadata, timeout=timeout or self.timeout)
        try:
            yield from stream
        except grpc.RpcError as e:
            raise ClientError(e.code().name, e.details() or "") from None
        finally:
            stream.cancel()

    def stats(self, namespace: str = "") -> pb.StatsResponse:
        return self._call("Stats", pb.StatsRequest(namespace=namespace))
