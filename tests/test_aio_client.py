"""The asyncio client against a live server on 127.0.0.1:0: every method gives what the synchronous client
gives for the same call, errors carry the same status codes, and leaving a Query stream early cancels it."""

from __future__ import annotations

import asyncio

import pytest

from msa.memstore.aio_client import AsyncMemoryClient
from msa.memstore.client import ClientError
from tests.server_helpers import client_for, live_server


@pytest.fixture(scope="module")
def server(checkpoint, tmp_path_factory):
    with live_server(checkpoint("qwen3", pooling_kernel_size=4), tmp_path_factory.mktemp("aio") / "store") as (
            _, target):
        yield target


def test_every_method_matches_the_sync_client(server):
    async def run() -> dict:
        async with AsyncMemoryClient(server, timeout=30) as client:
            await client.wait_ready(timeout=30)
            await client.create_namespace("a", "async")
            written = await client.write("a", [{"id": "x", "text": "Ada prefers green tea.", "metadata": {"u": "ada"}},
                                               {"id": "y", "text": "Bo runs on Sundays.", "metadata": {"u": "bo"}}])
            updated = await client.update("a", "y", metadata={"u": "bo", "sport": "run"})
            out = {"written": [(r.id, r.version) for r in written], "updated": updated.version,
                   "get": (await client.get("a", "y")).metadata["sport"],
                   "list": [d.id async for d in client.list("a", where={"u": ["ada", "bo"]}, page_size=1)],
                   "retrieve": [(c.id, c.score, c.text) for c in await client.retrieve(
                       "a", "Who drinks tea?", top_k=2, include_text=True, where={"u": "ada"})],
                   "namespaces": [n.name for n in await client.list_namespaces()],
                   "stats": (await client.stats("a")).documents}
            events = [e.WhichOneof("event") async for e in client.query("a", "Who runs?", max_new_tokens=3,
                                                                          where={"u": "bo"})]
            out["events"] = (events[0], events[-1])
            with pytest.raises(ClientError) as missing:
                await client.get("a", "nope")
            out["error"] = missing.value.code
            async for _ in client.query("a", "Who runs?", max_new_tokens=64):
                break  # leaving early cancels the stream; the next call still works
            out["deleted"] = await client.delete("a", ["x"])
            out["namespace_deleted"] = await client.delete_namespace("a")
            return out

    got = asyncio.run(run())
    assert got["written"] == [("x", 1), ("y", 1)] and got["updated"] == 2 and got["get"] == "run"
    assert got["list"] == ["x", "y"] and got["namespaces"] == ["a"] and got["stats"] == 2
    assert got["events"] == ("retrieval", "final") and got["error"] == "NOT_FOUND"
    assert got["deleted"] == 1 and got["namespace_deleted"] == 1
    with client_for(server) as sync:  # the same request through the synchronous client: the same answer
        sync.create_namespace("a")
        sync.write("a", [{"id": "x", "text": "Ada prefers green tea.", "metadata": {"u": "ada"}},
                         {"id": "y", "text": "Bo runs on Sundays.", "metadata": {"u": "bo", "sport": "run"}}])
        want = [(c.id, c.score, c.text) for c in sync.retrieve("a", "Who drinks tea?", top_k=2, include_text=True,
                                                              where={"u": "ada"})]
    assert got["retrieve"] == want == [("x", want[0][1], "Ada prefers green tea.")]
