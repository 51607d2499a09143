"""The auth matrix (issue 17): every RPC x (no token, a bad token, each right scoped to one tenant, a whole-store
admin) x (own namespace, another tenant's). Denials are UNAUTHENTICATED / PERMISSION_DENIED exactly where
docs/server.md says, and nothing a scoped token receives names or quotes another tenant."""

from __future__ import annotations

import hashlib

import grpc
import pytest

from msa.memstore.server.gate import RIGHTS, SERVICE
from msa.proto import memory_pb2 as pb
from tests.server_helpers import client_for, live_server

TOKENS = {  # token -> (namespaces, rights)
    "reader-a": (["team-a*"], ["read"]),
    "writer-a": (["team-a*"], ["write"]),
    "admin-a": (["team-a*"], ["admin"]),
    "root-token": (["*"], ["admin"]),
}
SECRETS = {"team-a": "Alpha keeps the spare key under the blue pot.",
           "team-b": "Bravo's vault code is 4711.", "zz-private": "Zulu moves to Oslo in May."}


def requests_for(ns: str) -> dict[str, object]:
    """One request per RPC aimed at namespace NS (harmless: probes, missing ids, nonexistent namespaces)."""
    return {
        "CreateNamespace": pb.CreateNamespaceRequest(name=f"{ns}-new"),
        "DeleteNamespace": pb.DeleteNamespaceRequest(name=f"{ns}-none"),
        "Write": pb.WriteRequest(namespace=ns, documents=[pb.NewDocument(id="probe", text="A probe.")],
                                 mode=pb.UPSERT),
        "Update": pb.UpdateRequest(namespace=ns, id="never", replace_metadata=True),
        "Delete": pb.DeleteRequest(namespace=ns, ids=["never"]),
        "Get": pb.GetRequest(namespace=ns, id="secret"),
        "History": pb.HistoryRequest(namespace=ns, id="secret"),
        "List": pb.ListRequest(namespace=ns),
        "Retrieve": pb.RetrieveRequest(namespace=ns, query="What is the secret?", top_k=2),
        "Query": pb.QueryRequest(namespace=ns, query="What is the secret?", max_new_tokens=2),
        "Stats": pb.StatsRequest(namespace=ns),
    }


@pytest.fixture(scope="module")
def target(checkpoint, tmp_path_factory):
    folder = tmp_path_factory.mktemp("auth")
    lines = []
    for token, (namespaces, rights) in TOKENS.items():
        lines += ["[[tokens]]", f'sha256 = "{hashlib.sha256(token.encode()).hexdigest()}"',
                  f"namespaces = {namespaces!r}".replace("'", '"'), f"rights = {rights!r}".replace("'", '"'), ""]
    (folder / "tokens.toml").write_text("\n".join(lines))
    with live_server(checkpoint("qwen3", pooling_kernel_size=4), folder / "store",
                     tokens_file=str(folder / "tokens.toml")) as (_, address):
        with client_for(address, "root-token") as root:
            for ns, text in SECRETS.items():
                root.create_namespace(ns)
                root.write(ns, [{"id": "secret", "text": text}])
        yield address


def call(channel: grpc.Channel, rpc: str, request, token: str | None) -> tuple[str, bytes]:
    """-> (status code name, the response bytes or the error details)."""
    metadata = [("authorization", f"Bearer {token}")] if token else []
    try:
        if rpc == "Query":
            out = b"".join(channel.unary_stream(SERVICE + rpc)(request.SerializeToString(), metadata=metadata,
                                                              timeout=30))
        else:
            out = channel.unary_unary(SERVICE + rpc)(request.SerializeToString(), metadata=metadata, timeout=30)
        return "OK", out
    except grpc.RpcError as e:
        return e.code().name, (e.details() or "").encode()


def allowed(token: str, rpc: str, ns: str) -> bool:
    namespaces, rights = TOKENS[token]
    right = RIGHTS[rpc]
    has = "admin" in rights or right in rights
    return has and any(ns.startswith(g.rstrip("*")) if g.endswith("*") else ns == g for g in namespaces)


@pytest.mark.parametrize("token", [None, "not-a-token", *TOKENS])
def test_every_rpc_on_own_and_other_namespaces(target, token):
    with grpc.insecure_channel(target) as channel:
        for ns in ("team-a", "team-b"):
            for rpc, request in requests_for(ns).items():
                code, body = call(channel, rpc, request, token)
                if token not in TOKENS:
                    assert code == "UNAUTHENTICATED", (token, rpc, ns, code)
                elif allowed(token, rpc, ns):
                    assert code not in ("UNAUTHENTICATED", "PERMISSION_DENIED"), (token, rpc, ns, code, body)
                else:
                    assert code == "PERMISSION_DENIED", (token, rpc, ns, code)
                if token != "root-token" and ns == "team-a":
                    leaked = [s for s in ("team-b", "zz-private", SECRETS["team-b"], SECRETS["zz-private"])
                              if s.encode() in body]
                    assert not leaked, (token, rpc, leaked)


@pytest.mark.parametrize("token", [*TOKENS])
def test_store_wide_calls_show_only_the_callers_tenants(target, token):
    scoped = token != "root-token"
    with grpc.insecure_channel(target) as channel:
        names, page = [], ""
        while True:
            code, body = call(channel, "ListNamespaces", pb.ListNamespacesRequest(page_size=1, page_token=page), token)
            assert code == "OK"
            response = pb.ListNamespacesResponse.FromString(body)
            names += [s.name for s in response.namespaces]
            if not (page := response.next_page_token):
                break
            assert not scoped or page.startswith("team-a")
        readable = "read" in TOKENS[token][1] or "admin" in TOKENS[token][1]
        expected = ({"team-a"} if scoped else set(SECRETS)) if readable else set()
        assert set(names) - {n for n in names if n.endswith("-new")} == expected
        code, body = call(channel, "Stats", pb.StatsRequest(), token)
        if "admin" not in TOKENS[token][1]:
            assert code == "PERMISSION_DENIED"
            return
        stats = pb.StatsResponse.FromString(body)
        with client_for(target, "root-token") as root:  # the sums over exactly the caller's namespaces
            spaces = [s.name for s in root.list_namespaces() if not scoped or s.name.startswith("team-a")]
            assert stats.documents == sum(root.stats(name).documents for name in spaces)
        assert stats.namespaces == len(spaces) and (stats.bytes_on_disk == 0) == scoped
