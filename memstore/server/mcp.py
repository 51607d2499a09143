"""The Model Context Protocol face of the store: tools an agent's LLM calls (remember, recall, ask, update,
forget, list namespaces and memories), each a call to MemoryService over gRPC, so an MCP call meets the same
checks, limits and bearer-token rights as any gRPC client; a refused call is an MCP tool error that starts with
the gRPC status name (NOT_FOUND: ..., PERMISSION_DENIED: ...).

`msa mcp` serves the tools over stdio (a local agent or IDE launches it) as a bridge to the server named by
`--server` with `--token`. `msa serve --mcp-listen HOST:PORT` serves them over streamable HTTP beside the gRPC
server: with a tokens file, a request without a known `Authorization: Bearer` token is refused (401) before
any MCP work, and the token is passed on, so its rights apply per namespace.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from msa.memstore.aio_client import AsyncMemoryClient
from msa.memstore.client import ClientError
from msa.memstore.errors import StoreError
from msa.memstore.server.auth import Tokens

INSTRUCTIONS = (
    "Long-term memory for this agent, organised in namespaces (one per user, project or topic). Save durable "
    "facts with `remember`; before answering from what you know about the user, `recall` the memories a question "
    "needs (with their text) or `ask` the memory model to answer with citations. Fix a memory with `update`, "
    "remove it with `forget`. Metadata are string key/value pairs you choose (e.g. kind=preference); "
    "`recall`, `ask` and `list_memories` can filter on them."
)

Namespace = Annotated[str, Field(description="Namespace: 1-128 letters, digits, '.', '_' or '-'.")]
Where = Annotated[dict[str, list[str]] | None, Field(
    description="Only memories whose metadata key holds one of the listed values, for every key given, "
                "e.g. {\"kind\": [\"preference\", \"plan\"]}.")]


def _citation(c) -> dict[str, Any]:
    return {"id": c.id, "version": c.version, "score": round(c.score, 4), "text": c.text,
            "metadata": dict(c.metadata)}


def build(target: str, token_of: Callable[[Context], str | None], tls_ca: str | None = None) -> MCPServer:
    """The tools, bridged to the MemoryService at `target`; `token_of(ctx)` is the bearer token of a call."""
    server = MCPServer("msa-memstore", instructions=INSTRUCTIONS, log_level="WARNING")
    clients: dict[str | None, AsyncMemoryClient] = {}  # one channel per token

    async def call(ctx: Context, fn: Callable[[AsyncMemoryClient], Awaitable[Any]]) -> Any:
        token = token_of(ctx)
        if token not in clients:
            clients[token] = AsyncMemoryClient(target, token=token, tls_ca=tls_ca)
        try:
            return await fn(clients[token])
        except ClientError as e:
            raise ToolError(f"{e.code}: {e.message}") from None

    @server.tool(description="Save a memory (a fact, preference, event or note worth keeping) in a namespace; "
                             "the namespace is created if it does not exist. Returns its id and version.")
    async def remember(ctx: Context, namespace: Namespace, text: str,
                       metadata: dict[str, str] | None = None, id: str = "",
                       ttl_seconds: Annotated[float | None, Field(
                           gt=0, description="Forget it this many seconds from now (default: keep)")] = None
                       ) -> dict[str, Any]:
        async def run(client: AsyncMemoryClient) -> dict[str, Any]:
            document = [{"id": id, "text": text, "metadata": metadata or {}, "ttl_seconds": ttl_seconds}]
            try:
                (result,) = await client.write(namespace, document)
            except ClientError as e:
                if e.code != "NOT_FOUND" or "namespace" not in e.message:
                    raise
                try:
                    await client.create_namespace(namespace)
                except ClientError as again:
                    if again.code != "ALREADY_EXISTS":
                        raise
                (result,) = await client.write(namespace, document)
            return {"id": result.id, "version": result.version}

        return await call(ctx, run)

    @server.tool(description="The memories a question needs, best first, with their text and metadata (to read "
                             "them yourself). Optional filter on metadata and creation time.")
    async def recall(ctx: Context, namespace: Namespace, query: str,
                     top_k: Annotated[int, Field(ge=1, le=64)] = 8, where: Where = None,
                     created_after: float | None = None, created_before: float | None = None) -> list[dict[str, Any]]:
        found = await call(ctx, lambda c: c.retrieve(namespace, query, top_k, True, where,
                                                     (created_after, created_before)))
        return [_citation(c) for c in found]

    @server.tool(description="Ask the memory model a question: it reads the relevant memories itself and "
                             "answers, citing the memories it read.")
    async def ask(ctx: Context, namespace: Namespace, question: str,
                  max_new_tokens: Annotated[int, Field(ge=1, le=4096)] = 256, where: Where = None) -> dict[str, Any]:
        async def run(client: AsyncMemoryClient) -> dict[str, Any]:
            final = None
            async for event in client.query(namespace, question, max_new_tokens=max_new_tokens, where=where):
                if event.WhichOneof("event") == "final":
                    final = event.final
            return {"answer": final.answer, "citations": [
                {"id": c.id, "version": c.version, "score": round(c.score, 4)} for c in final.citations]}

        return await call(ctx, run)

    @server.tool(description="Change a memory's text and/or metadata (metadata given replaces the old). "
                             "expected_version > 0 refuses the change if the memory changed since.")
    async def update(ctx: Context, namespace: Namespace, id: str, text: str | None = None,
                     metadata: dict[str, str] | None = None, expected_version: int = 0) -> dict[str, Any]:
        result = await call(ctx, lambda c: c.update(namespace, id, text, metadata, expected_version))
        return {"id": result.id, "version": result.version, "changed": result.changed}

    @server.tool(description="Delete memories by id (all of them or none).")
    async def forget(ctx: Context, namespace: Namespace, ids: list[str]) -> dict[str, int]:
        return {"deleted": await call(ctx, lambda c: c.delete(namespace, ids))}

    @server.tool(description="The namespaces this agent may read, with their memory counts.")
    async def list_namespaces(ctx: Context) -> list[dict[str, Any]]:
        spaces = await call(ctx, lambda c: c.list_namespaces())
        return [{"name": n.name, "description": n.description, "memories": n.documents} for n in spaces]

    @server.tool(description="Memories of a namespace (ids, versions and metadata, without text), oldest first.")
    async def list_memories(ctx: Context, namespace: Namespace, where: Where = None,
                            limit: Annotated[int, Field(ge=1, le=1000)] = 100) -> list[dict[str, Any]]:
        async def run(client: AsyncMemoryClient) -> list[dict[str, Any]]:
            out = []
            async for d in client.list(namespace, where, page_size=limit):
                out.append({"id": d.id, "version": d.version, "metadata": dict(d.metadata),
                            "updated_at": d.updated_at})
                if len(out) == limit:
                    break
            return out

        return await call(ctx, run)

    return server


def bearer(ctx: Context) -> str | None:
    """The token of an HTTP call's `Authorization: Bearer` header (None on stdio or without one)."""
    value = (ctx.headers or {}).get("authorization", "")
    return value[len("Bearer "):].strip() or None if value.startswith("Bearer ") else None


class RequireToken:
    """ASGI middleware: with a tokens file, a request whose bearer token is unknown is refused (401)."""

    def __init__(self, app: ASGIApp, tokens: Tokens | None) -> None:
        self.app, self.tokens = app, tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.tokens is not None:
            headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
            try:
                self.tokens.grant(headers.get("authorization"))
            except StoreError as e:
                await JSONResponse({"error": f"{e.code}: {e}"}, status_code=401,
                                   headers={"WWW-Authenticate": "Bearer"})(scope, receive, send)
                return
        await self.app(scope, receive, send)


def http_app(target: str, tokens: Tokens | None, host: str) -> Starlette:
    """Streamable HTTP at /mcp, bridged to the gRPC server at `target` with each caller's own token."""
    app = build(target, bearer).streamable_http_app(host=host)
    app.add_middleware(RequireToken, tokens=tokens)
    return app
