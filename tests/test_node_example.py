"""examples/node/memory.js (@grpc/grpc-js + @grpc/proto-loader on proto/memory.proto) against a live server:
CRUD, a filtered Retrieve and a streamed Query from Node.js. Skips without node and npm, or when npm cannot
install the two packages (offline)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.server_helpers import live_server

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "node"


@pytest.fixture(scope="module")
def node_modules(tmp_path_factory) -> Path:
    if not (shutil.which("node") and shutil.which("npm")):
        pytest.skip("node and npm are not installed")
    where = tmp_path_factory.mktemp("node")
    shutil.copy(EXAMPLE / "package.json", where)
    done = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent"], cwd=where,
                          capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        pytest.skip(f"npm could not install @grpc/grpc-js and @grpc/proto-loader: {done.stderr[-300:]}")
    return where / "node_modules"


def test_node_client_does_crud_and_a_streamed_query(checkpoint, tmp_path, node_modules):
    with live_server(checkpoint("qwen3", pooling_kernel_size=4), tmp_path / "store") as (_, target):
        done = subprocess.run(["node", str(EXAMPLE / "memory.js"), target], capture_output=True, text=True,
                              timeout=120, env={**os.environ, "NODE_PATH": str(node_modules)})
    assert done.returncode == 0, done.stderr
    steps = {line["step"]: line for line in map(json.loads, done.stdout.splitlines())}
    assert steps["write"]["ids"] == ["tea", "run"] and steps["write"]["versions"] == [1, 1]
    assert steps["update"]["version"] == 2
    assert steps["get"] == {"step": "get", "text": "Bo runs along the river on Saturdays.", "version": 2}
    assert steps["list"]["ids"] == ["tea"]
    assert steps["retrieve"] == {"step": "retrieve", "ids": ["run"], "texts": ["Bo runs along the river on Saturdays."]}
    assert steps["query"]["kinds"] == ["retrieval", "token", "final"] and steps["query"]["tokens"] >= 1
    assert steps["query"]["cited"] and steps["error"]["code"] == "NOT_FOUND" and steps["delete"]["deleted"] == 1
