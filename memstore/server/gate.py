"""The one interceptor in front of MemoryService: refuses while loading or stopping (UNAVAILABLE), checks
the bearer token's rights (UNAUTHENTICATED / PERMISSION_DENIED), maps typed errors to status codes, logs
the unexpected once with a request id (INTERNAL), and records metrics. Other services pass through."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import grpc

from msa.memstore.errors import InvalidArgument, StoreError, Unavailable
from msa.memstore.server.auth import CallContext, Grant, Tokens
from msa.memstore.server.logs import log
from msa.memstore.server.metrics import Metrics

SERVICE = "/msa.memory.v1.MemoryService/"
RIGHTS = {"CreateNamespace": "admin", "DeleteNamespace": "admin", "ListNamespaces": "read", "Write": "write",
          "Update": "write", "Delete": "write", "Get": "read", "History": "read", "List": "read", "Retrieve": "read",
          "Query": "read", "Stats": "read"}
logger = logging.getLogger("msa.server")


def target_namespace(rpc: str, request) -> str | None:
    """The namespace a request touches; None for store-wide requests (ListNamespaces filters by itself)."""
    if rpc in ("CreateNamespace", "DeleteNamespace"):
        return request.name
    return getattr(request, "namespace", None) or None


UNAVAILABLE = {"loading": "the server is loading its model and index; retry shortly",
               "failed": "a rank holding the routing index failed; the server must be restarted (it reloads "
                         "the index from the store)",
               "stopping": "the server is shutting down; retry on another instance"}


class Malformed:
    """What a request that does not decode becomes: answered INVALID_ARGUMENT by the Gate, not UNKNOWN by gRPC."""

    def __init__(self, error: Exception) -> None:
        self.error = error


def tolerant(deserializer: Callable[[bytes], object]) -> Callable[[bytes], object]:
    def parse(data: bytes) -> object:
        try:
            return deserializer(data)
        except Exception as e:  # protobuf's DecodeError (truncated fields, invalid UTF-8, ...)
            return Malformed(e)
    return parse


class Gate(grpc.aio.ServerInterceptor):
    def __init__(self, tokens: Tokens | None, metrics: Metrics) -> None:
        self.tokens, self.metrics = tokens, metrics
        self.state = "loading"  # loading -> serving (-> failed: a routing-index rank is gone) -> stopping

    async def intercept_service(self, continuation, details):
        handler = await continuation(details)
        if handler is None or not details.method.startswith(SERVICE):
            return handler
        rpc = details.method[len(SERVICE):]
        headers = dict(details.invocation_metadata or ())
        parse = tolerant(handler.request_deserializer)
        if handler.unary_unary:
            behavior = self._unary(rpc, headers, handler.unary_unary)
            return grpc.unary_unary_rpc_method_handler(behavior, parse, handler.response_serializer)
        behavior = self._stream(rpc, headers, handler.unary_stream)
        return grpc.unary_stream_rpc_method_handler(behavior, parse, handler.response_serializer)

    def _admit(self, rpc: str, headers: dict, request) -> Grant | None:
        """-> the caller's grant (None without a tokens file), once the call may go ahead."""
        if self.state != "serving":
            raise Unavailable(UNAVAILABLE[self.state])
        if isinstance(request, Malformed):
            log(logger, logging.WARNING, "malformed request", rpc=rpc, error=str(request.error)[:200])
            raise InvalidArgument(f"the request bytes do not decode as a {rpc} request ({request.error}); send the "
                                  "message msa.memory.v1 defines for it")
        if rpc not in RIGHTS:
            raise InvalidArgument(f"unknown method {rpc}")
        if self.tokens is None:
            return None
        grant = self.tokens.grant(headers.get("authorization"))
        ns = target_namespace(rpc, request)
        if rpc != "ListNamespaces":
            self.tokens.check(grant, RIGHTS[rpc], ns)
        return grant

    def _unary(self, rpc: str, headers: dict, behavior: Callable[..., Awaitable]):
        async def wrapped(request, context):
            async with self._guarded(rpc, headers, request, context) as call:
                return await behavior(request, call)
        return wrapped

    def _stream(self, rpc: str, headers: dict, behavior: Callable[..., AsyncIterator]):
        async def wrapped(request, context):
            async with self._guarded(rpc, headers, request, context) as call:
                async for message in behavior(request, call):
                    yield message
        return wrapped

    @contextlib.asynccontextmanager
    async def _guarded(self, rpc: str, headers: dict, request, context) -> AsyncIterator[CallContext]:
        """Admission, then the call (given the caller's grant); its error becomes the status it is answered
        with; metrics either way."""
        start, code = time.perf_counter(), "OK"
        try:
            yield CallContext(context, self._admit(rpc, headers, request))
        except asyncio.CancelledError:
            code = "CANCELLED"
            raise
        except grpc.aio.AbortError:
            raise
        except Exception as e:
            code, message = self._status(rpc, e)
            await context.abort(grpc.StatusCode[code], message)
        finally:
            self.metrics.observe(rpc, code, time.perf_counter() - start)

    @staticmethod
    def _status(rpc: str, error: Exception) -> tuple[str, str]:
        """The status code name and message an error is answered with."""
        if isinstance(error, StoreError):
            return error.code, str(error)
        request_id = uuid.uuid4().hex[:12]
        logger.error("internal error", exc_info=error, extra={"fields": {"rpc": rpc, "request_id": request_id}})
        return "INTERNAL", f"internal error (request id {request_id}); the server log has the details"
