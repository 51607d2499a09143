"""Fuzzing every RPC of a live server: raw bytes on the method paths and messages with random and boundary
field values. Never INTERNAL or UNKNOWN, and the server still answers afterwards (issue 17).

CI sends about 1,500 requests; `MSA_FUZZ_REQUESTS=10000 python -m pytest tests/test_fuzz.py` is the full run.
"""

from __future__ import annotations

import collections
import math
import os
import random

import grpc
import pytest
from google.protobuf.descriptor import FieldDescriptor

from msa.memstore.server.gate import RIGHTS, SERVICE
from msa.proto import memory_pb2 as pb
from tests.server_helpers import client_for, live_server

REQUESTS = int(os.environ.get("MSA_FUZZ_REQUESTS", "1500"))
STREAMING = {"Query"}
REQUEST_TYPES = {rpc: pb.DESCRIPTOR.services_by_name["MemoryService"].methods_by_name[rpc].input_type
                 for rpc in RIGHTS}
STRINGS = ["", "n", "fact-0", "a" * 300, "\u00b2", "9" * 20, "9" * 5000, "x\x00y", "-1", "*", "n\n", "\U0001f600",
           "z " * 3000]
INTS = [0, 1, -1, 2, 7, 64, 65, 1000, 1001, 4096, 4097, 2**31 - 1, -(2**31)]
FLOATS = [0.0, 1.0, -1.0, 0.5, 1e-45, 1e30, math.nan, math.inf, -math.inf]
FORBIDDEN = {"INTERNAL", "UNKNOWN"}
# Half of the time a field gets a plausible value, so that requests also get past validation into the model.
PLAUSIBLE = {
    "namespace": ["n"], "name": ["n", "m"], "id": ["fact-1", "new"], "ids": ["fact-2"], "text": ["A new fact."],
    "query": ["How many apples?"], "top_k": [1, 2], "max_new_tokens": [1, 4], "interleave_rounds": [0, 1],
    "read_mode": ["", "text", "kv"], "page_size": [0, 2], "page_token": [""], "messages": [],
    "expected_version": [0, 1], "temperature": [0.0, 0.7], "top_p": [0.0, 0.9],
}


@pytest.fixture(scope="module")
def target(checkpoint, tmp_path_factory):
    with live_server(checkpoint("qwen3", pooling_kernel_size=4), tmp_path_factory.mktemp("fuzz") / "store",
                     max_queries=2, query_queue=4) as (_, address):
        yield address


def restock(target: str) -> None:
    """Namespace "n" with its facts, so that fuzzed requests naming it reach the model (a fuzzed
    DeleteNamespace or Delete may have removed them)."""
    with client_for(target) as c:
        if "n" not in {s.name for s in c.list_namespaces()}:
            c.create_namespace("n")
        c.write("n", [{"id": f"fact-{i}", "text": f"Fact {i}: the box holds {i} apples."} for i in range(5)],
                upsert=True)


def call(channel: grpc.Channel, rpc: str, payload: bytes) -> str:
    """Send raw request bytes to one method -> the status code's name (a stream is read to its end)."""
    path = SERVICE + rpc
    try:
        if rpc in STREAMING:
            for _ in channel.unary_stream(path)(payload, timeout=20):
                pass
        else:
            channel.unary_unary(path)(payload, timeout=20)
    except grpc.RpcError as e:
        return e.code().name
    return "OK"


def random_value(field: FieldDescriptor, rng: random.Random):
    if PLAUSIBLE.get(field.name) and rng.random() < 0.5:
        return rng.choice(PLAUSIBLE[field.name])
    if field.type == FieldDescriptor.TYPE_STRING:
        return rng.choice(STRINGS) if rng.random() < 0.8 else "".join(chr(rng.randrange(1, 0x3000))
                                                                      for _ in range(rng.randrange(12)))
    if field.type in (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE):
        return rng.choice(FLOATS)
    if field.type == FieldDescriptor.TYPE_BOOL:
        return rng.random() < 0.5
    if field.type == FieldDescriptor.TYPE_ENUM:
        return rng.choice([v.number for v in field.enum_type.values] + [99])
    return rng.choice(INTS)


def random_message(descriptor, rng: random.Random):
    """A request of this type with a random subset of its fields set to random or boundary values."""
    return fill(getattr(pb, descriptor.name)(), descriptor, rng, 0)


def fill(message, descriptor, rng: random.Random, depth: int):
    for field in descriptor.fields:
        if rng.random() < 0.4:
            continue
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            target = getattr(message, field.name)
            for _ in range(rng.randrange(4)):
                target[rng.choice(STRINGS[:6])] = rng.choice(STRINGS[:6])
        elif field.message_type is not None:
            if depth > 1 or (field.name in PLAUSIBLE and rng.random() < 0.5):
                continue
            items = getattr(message, field.name)
            count = rng.choice([0, 1, 2, 3, 40]) if field.is_repeated else 1
            for _ in range(count):
                child = items.add() if field.is_repeated else items
                fill(child, field.message_type, rng, depth + 1)
        elif field.is_repeated:
            getattr(message, field.name).extend(random_value(field, rng) for _ in range(rng.randrange(4)))
        else:
            value = random_value(field, rng)
            if field.type == FieldDescriptor.TYPE_FLOAT and math.isfinite(value) and abs(value) > 3e38:
                value = math.inf
            setattr(message, field.name, value)
    return message


def raw_payloads(rng: random.Random) -> list[bytes]:
    """Bytes that do not decode or decode into odd messages: truncated fields, invalid UTF-8, huge varints."""
    fixed = [b"", b"\x0a", b"\x0a\x02\xff\xfe", b"\x0a\x05hello", b"\x08" + b"\xff" * 10 + b"\x01",
             b"\x12\x80\x80\x80\x80\x08", b"\x0a\x01n\x12\x03\xc3\x28a", b"\xff" * 16, b"\x00" * 8]
    return fixed + [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 48))) for _ in range(40)]


def test_no_request_is_internal_or_unknown_and_the_server_lives(target):
    rng = random.Random(17)
    codes: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    sent = 0
    with grpc.insecure_channel(target) as channel:
        while sent < REQUESTS:
            for rpc, descriptor in REQUEST_TYPES.items():
                restock(target)
                payloads = raw_payloads(rng) if sent % 2 == 0 else []
                payloads += [random_message(descriptor, rng).SerializeToString() for _ in range(20)]
                for payload in payloads:
                    code = call(channel, rpc, payload)
                    codes[rpc][code] += 1
                    assert code not in FORBIDDEN, (rpc, payload[:200], code)
                    sent += 1
    assert sent >= REQUESTS
    assert sum(c["INVALID_ARGUMENT"] for c in codes.values()) > 0 and sum(c["OK"] for c in codes.values()) > 0
    with client_for(target) as c:  # alive and serving (the fuzz may have deleted "n" itself)
        c.create_namespace("after")
        c.write("after", [{"id": "x", "text": "Still serving."}])
        assert c.get("after", "x").text == "Still serving."
    print({rpc: dict(c) for rpc, c in codes.items()})
