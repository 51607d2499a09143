"""Setting a server up, live on 127.0.0.1:0 over a real store and a tiny random model: tokens files and the
auth matrix, loopback-only without tokens, TLS, config precedence, health while loading, graceful stop."""

from __future__ import annotations

import threading
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from msa.memstore.client import ClientError, MemoryClient
from msa.memstore.errors import InvalidArgument, Unauthenticated
from msa.memstore.server.auth import Tokens
from msa.memstore.server.config import ServerConfig, load_config
from msa.memstore.server.serve import BackgroundServer, MemoryServer
from msa.proto import memory_pb2 as pb
from tests.server_helpers import FACTS, client_for, code_of, live_server


@pytest.fixture(scope="module")
def ckpt(checkpoint):
    return checkpoint("qwen3", pooling_kernel_size=4)


TOKENS = """
[[tokens]]
token = "reader"
namespaces = ["team-*"]
rights = ["read"]

[[tokens]]
token = "writer"
namespaces = ["team-a"]
rights = ["read", "write"]

[[tokens]]
sha256 = "{admin}"
namespaces = ["*"]
rights = ["admin"]

[[tokens]]
token = "team-a-admin"
namespaces = ["team-a*"]
rights = ["admin"]

[[tokens]]
token = "team-a-writer"
namespaces = ["team-a*"]
rights = ["write"]
"""


def test_auth_matrix(ckpt, tmp_path):
    import hashlib

    tokens = tmp_path / "tokens.toml"
    tokens.write_text(TOKENS.format(admin=hashlib.sha256(b"root").hexdigest()))
    with live_server(ckpt, tmp_path / "store", tokens_file=str(tokens)) as (_, target):
        admin, reader, writer = (client_for(target, t) for t in ("root", "reader", "writer"))
        anonymous, wrong = client_for(target), client_for(target, "guess")
        for ns in ("team-a", "team-b", "private"):
            admin.create_namespace(ns)
        assert code_of(lambda: anonymous.list_namespaces()) == "UNAUTHENTICATED"
        assert code_of(lambda: wrong.get("team-a", "x")) == "UNAUTHENTICATED"
        assert code_of(lambda: writer.create_namespace("team-c")) == "PERMISSION_DENIED"
        assert writer.write("team-a", [{"id": "x", "text": "A fact."}])[0].id == "x"
        assert code_of(lambda: writer.write("team-b", [{"text": "no"}])) == "PERMISSION_DENIED"
        assert code_of(lambda: reader.write("team-a", [{"text": "no"}])) == "PERMISSION_DENIED"
        assert reader.get("team-a", "x").text == "A fact."
        assert code_of(lambda: reader.get("private", "x")) == "PERMISSION_DENIED"
        assert code_of(lambda: reader.stats()) == "PERMISSION_DENIED"  # store-wide: admin only
        assert {s.name for s in reader.list_namespaces()} == {"team-a", "team-b"}
        assert admin.stats().namespaces == 3 and admin.stats().bytes_on_disk > 0
        # Scoped tokens learn nothing of other tenants: not from pages, page tokens or store-wide Stats.
        scoped, blind = client_for(target, "team-a-admin"), client_for(target, "team-a-writer")
        for ns in ("team-a2", "team-b2", "zeta"):
            admin.create_namespace(ns)
        for c, expected in ((scoped, ["team-a", "team-a2"]), (blind, [])):
            names, token = [], ""
            while True:
                page = c._call("ListNamespaces", pb.ListNamespacesRequest(page_size=1, page_token=token))
                names += [s.name for s in page.namespaces]
                assert token == "" or token in expected
                if not (token := page.next_page_token):
                    break
            assert names == expected
        stats = scoped.stats()
        assert stats.namespaces == 2 and stats.documents == 1 and stats.bytes_on_disk == 0
        assert admin.delete_namespace("private") == 0
        for c in (admin, reader, writer, anonymous, wrong, scoped, blind):
            c.close()


@pytest.mark.parametrize(("entry", "message"), [
    ('token = "t0123456"\nnamespaces = "team-a*"\nrights = ["read"]', "namespaces must be a non-empty list"),
    ('token = "t0123456"\nrights = ["read"]', "namespaces must be a non-empty list"),
    ('token = ""\nnamespaces = ["*"]\nrights = ["read"]', "token must be a non-empty string"),
    ('token = " padded "\nnamespaces = ["*"]\nrights = ["read"]', "token must be a non-empty string"),
    ('sha256 = "not-hex"\nnamespaces = ["*"]\nrights = ["read"]', "sha256 must be 64 hex digits"),
    ('token = "t0123456"\nnamespaces = ["*"]\nrights = "read"', "rights must be a non-empty list"),
    ('token = "t0123456"\nnamespace = ["*"]\nrights = ["read"]', "unknown keys"),
])
def test_tokens_file_mistakes_are_refused(tmp_path, entry, message):
    path = tmp_path / "tokens.toml"
    path.write_text(f"[[tokens]]\n{entry}\n")
    with pytest.raises(InvalidArgument, match=message):
        Tokens.load(path)


def test_an_empty_bearer_token_is_unauthenticated(tmp_path):
    path = tmp_path / "tokens.toml"
    path.write_text('[[tokens]]\ntoken = "t0123456"\nnamespaces = ["*"]\nrights = ["read"]\n')
    tokens = Tokens.load(path)
    for header in ("Bearer ", "Bearer    ", None, "t0123456"):
        with pytest.raises(Unauthenticated):
            tokens.grant(header)
    assert tokens.grant("Bearer t0123456").rights == frozenset({"read"})


def test_health_is_not_serving_while_loading_and_requests_are_unavailable(ckpt, tmp_path):
    release = threading.Event()

    def slow_engine():
        release.wait(30)
        raise RuntimeError("not needed")

    srv = BackgroundServer(ServerConfig(store=str(tmp_path), listen="127.0.0.1:0", grace_s=1), slow_engine)
    port = srv.start(wait_loaded=False)
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    status = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
    assert status.status == health_pb2.HealthCheckResponse.NOT_SERVING
    with client_for(f"127.0.0.1:{port}") as c:
        assert code_of(lambda: c.list_namespaces()) == "UNAVAILABLE"
    release.set()
    channel.close()
    srv.stop()


def test_graceful_stop_finishes_the_query_in_flight(ckpt, tmp_path):
    with live_server(ckpt, tmp_path / "store") as (srv, target):
        c, late = client_for(target), client_for(target)
        c.create_namespace("n")
        c.write("n", [{"text": t} for t in FACTS.values()])
        stream = c.query("n", "Where does Rex live?", max_new_tokens=60)
        first = next(stream)
        stopper = threading.Thread(target=srv.stop)
        stopper.start()
        time.sleep(0.2)
        assert code_of(lambda: late.list_namespaces()) == "UNAVAILABLE"
        rest = list(stream)
        assert first.WhichOneof("event") == "retrieval" and rest[-1].WhichOneof("event") == "final"
        stopper.join()
        srv.stop = lambda: None  # already stopped
        c.close()
        late.close()


def test_no_tokens_file_means_loopback_only(tmp_path):
    import asyncio

    for settings in (dict(listen="0.0.0.0:0"), dict(listen="127.0.0.1:0", metrics_listen="0.0.0.0:0")):
        server = MemoryServer(ServerConfig(store=str(tmp_path), **settings))
        with pytest.raises(InvalidArgument, match="without a tokens file"):
            asyncio.run(server.start())


def test_config_precedence(tmp_path):
    file = tmp_path / "msa.toml"
    file.write_text('listen = "127.0.0.1:7000"\nmax_queries = 3\ncache_mb = 10\n')
    config = load_config(file, env={"MSA_MAX_QUERIES": "5", "MSA_CACHE_MB": "20", "MSA_SERVER": "ignored"},
                         flags={"cache_mb": 30, "device": None})
    assert (config.listen, config.max_queries, config.cache_mb, config.device) == ("127.0.0.1:7000", 5, 30, "cpu")
    with pytest.raises(InvalidArgument, match="unknown setting"):
        load_config(file, env={}, flags={"nonsense": 1})
    with pytest.raises(InvalidArgument, match="must be a int"):
        load_config(None, env={"MSA_MAX_QUERIES": "many"})


def self_signed(tmp_path):
    """A certificate for 127.0.0.1 / localhost and its key (PEM files)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def test_tls(ckpt, tmp_path):
    cert, key = self_signed(tmp_path)
    with live_server(ckpt, tmp_path / "store", tls_cert=str(cert), tls_key=str(key)) as (_, target):
        with MemoryClient(target, tls_ca=str(cert), timeout=30) as secure:
            assert secure.create_namespace("n").name == "n"
        with client_for(target) as plain, pytest.raises(ClientError) as e:
            plain.list_namespaces()
        assert e.value.code == "UNAVAILABLE"
