"""The MCP server, end to end with the SDK's own client: over stdio (`msa mcp`, a subprocess bridged to a live
gRPC server) and over streamable HTTP (`msa serve --mcp-listen`), where bearer tokens are enforced: none or an
unknown one is refused before any MCP work, and a read-only token cannot write."""

from __future__ import annotations

import asyncio
import os
import sys

import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from tests.server_helpers import live_server

TOOLS = {"remember", "recall", "ask", "update", "forget", "list_namespaces", "list_memories"}


@pytest.fixture(scope="module")
def ckpt(checkpoint):
    return checkpoint("qwen3", pooling_kernel_size=4)


def data(result) -> object:
    """A tool's structured result (a list comes wrapped as {"result": [...]})."""
    assert not result.is_error, result.content
    out = result.structured_content
    return out["result"] if set(out) == {"result"} else out


def error(result) -> str:
    """A tool error's message after the SDK's "Error executing tool NAME: " prefix: our status and message."""
    assert result.is_error
    return result.content[0].text.split(": ", 1)[1]


async def session(client: Client) -> dict:
    """Write, recall, ask, update, list and forget memories; and the errors a model would see."""
    out = {"tools": {t.name for t in (await client.list_tools()).tools}}
    tea = data(await client.call_tool("remember", {"namespace": "agent-1", "text": "Ada prefers green tea.",
                                                   "metadata": {"kind": "preference"}}))
    run = data(await client.call_tool("remember", {"namespace": "agent-1", "text": "Bo runs on Sundays.",
                                                   "id": "bo-run", "metadata": {"kind": "habit"}}))
    out["remembered"] = (tea["version"], run)
    out["recall"] = data(await client.call_tool("recall", {"namespace": "agent-1", "query": "What does Ada drink?",
                                                           "top_k": 2, "where": {"kind": ["preference"]}}))
    out["ask"] = data(await client.call_tool("ask", {"namespace": "agent-1", "question": "When does Bo run?",
                                                     "max_new_tokens": 3}))
    out["update"] = data(await client.call_tool("update", {"namespace": "agent-1", "id": "bo-run",
                                                           "text": "Bo runs on Saturdays.", "expected_version": 1}))
    out["conflict"] = error(await client.call_tool("update", {"namespace": "agent-1", "id": "bo-run",
                                                              "text": "x", "expected_version": 1}))
    out["memories"] = data(await client.call_tool("list_memories", {"namespace": "agent-1"}))
    out["namespaces"] = data(await client.call_tool("list_namespaces", {}))
    out["forget"] = data(await client.call_tool("forget", {"namespace": "agent-1", "ids": [tea["id"]]}))
    out["missing"] = error(await client.call_tool("recall", {"namespace": "agent-nobody", "query": "x"}))
    out["bad"] = (await client.call_tool("recall", {"namespace": "agent-1", "query": "x", "top_k": 500})).is_error
    return out


def check(out: dict) -> None:
    assert out["tools"] == TOOLS
    assert out["remembered"][0] == 1 and out["remembered"][1] == {"id": "bo-run", "version": 1}
    assert [(m["text"], m["metadata"]) for m in out["recall"]] == [("Ada prefers green tea.", {"kind": "preference"})]
    assert isinstance(out["ask"]["answer"], str) and out["ask"]["citations"]
    assert out["update"] == {"id": "bo-run", "version": 2, "changed": True}
    assert out["conflict"].startswith("ABORTED: ")
    assert {m["id"]: m["version"] for m in out["memories"]}["bo-run"] == 2 and len(out["memories"]) == 2
    assert out["namespaces"] == [{"name": "agent-1", "description": "", "memories": 2}]
    assert out["forget"] == {"deleted": 1}
    assert out["missing"].startswith("NOT_FOUND: ") and out["bad"]


def test_stdio_bridge(ckpt, tmp_path):
    with live_server(ckpt, tmp_path / "store") as (_, target):
        params = StdioServerParameters(command=sys.executable, args=[
            "-c", "from msa.cli.main import cli; cli()", "mcp", "--server", target], env=dict(os.environ))

        async def run() -> dict:
            async with Client(params, read_timeout_seconds=60) as client:
                return await session(client)

        check(asyncio.run(run()))


def test_http_endpoint_enforces_tokens(ckpt, tmp_path):
    (tmp_path / "tokens.toml").write_text(
        '[[tokens]]\ntoken = "rw-token"\nnamespaces = ["agent-*"]\nrights = ["admin"]\n'
        '[[tokens]]\ntoken = "ro-token"\nnamespaces = ["agent-*"]\nrights = ["read"]\n')
    with live_server(ckpt, tmp_path / "store", tokens_file=str(tmp_path / "tokens.toml"),
                     mcp_listen="127.0.0.1:0") as (server, _):
        url = f"http://127.0.0.1:{server.server.mcp_port}/mcp"

        def connect(token: str | None) -> Client:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            return Client(streamable_http_client(url, http_client=httpx2.AsyncClient(headers=headers, timeout=60)))

        async def refused(token: str | None) -> bool:
            try:
                async with connect(token) as client:
                    await client.list_tools()
            except Exception:  # the 401 surfaces as a transport error
                return True
            return False

        async def run() -> tuple:
            async with connect("rw-token") as client:
                out = await session(client)
            async with connect("ro-token") as client:
                denied = error(await client.call_tool("remember", {"namespace": "agent-1", "text": "x"}))
                outside = error(await client.call_tool("recall", {"namespace": "other", "query": "x"}))
                readable = data(await client.call_tool("list_memories", {"namespace": "agent-1"}))
            return out, denied, outside, readable, await refused(None), await refused("wrong")

        out, denied, outside, readable, anonymous, unknown = asyncio.run(run())
        check(out)
        assert denied.startswith("PERMISSION_DENIED: ") and outside.startswith("PERMISSION_DENIED: ")
        assert [m["id"] for m in readable] == ["bo-run"] and anonymous and unknown
