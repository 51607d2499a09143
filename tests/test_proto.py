"""The committed gRPC stubs are exactly what memory.proto generates, and every field is commented."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

PROTO = Path(__file__).resolve().parents[1] / "proto" / "memory.proto"


def test_stubs_match_the_proto():
    run = subprocess.run([sys.executable, "-m", "msa.proto.generate", "--check"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def test_every_field_and_rpc_is_commented():
    for line in PROTO.read_text().splitlines():
        code = line.split("//")[0].strip()
        if re.match(r"(repeated |optional |map<[^>]+> )?\w+ \w+ = \d+;", code) or re.match(r"\w+ = \d+;", code):
            assert "//" in line, f"field without a comment: {line.strip()}"
    rpcs = re.findall(r"(?:// .*\n)?\s*rpc (\w+)", PROTO.read_text())
    assert len(rpcs) == 12
    text = PROTO.read_text()
    for rpc in rpcs:
        assert re.search(rf"//[^\n]*\n\s*rpc {rpc}\(", text), f"rpc {rpc} has no comment"
