"""Starting a Memory Parallel job for `msa serve --world-size N`: spawn ranks 1..N-1 on this machine (each
`python -m msa.memstore.index.shard_rank`, GPU r for rank r on a GPU server), or, under `torchrun`, join the job
it started (ranks > 0 run the shard loop instead of a server). Rank 0 joins last and gets the index.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import torch

from msa.memstore.errors import InvalidArgument
from msa.memstore.index.shard_rank import DTYPES, join, run
from msa.memstore.index.sharding import ShardedRoutingIndex, ShardServer
from msa.memstore.server.config import ServerConfig
from msa.memstore.storage.store import Store


def under_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(store: Store, world: int, device: torch.device, dtype: torch.dtype, timeout_s: float = 60.0
          ) -> ShardedRoutingIndex:
    """Join as rank 0 of a `world`-rank job over `store` (spawned ranks on this machine, or torchrun's) and
    return its routing index; closing the index stops the ranks."""
    if world < 2:
        raise InvalidArgument(f"world size must be at least 2 for Memory Parallel, got {world}")
    if device.type == "cuda" and not under_torchrun() and torch.cuda.device_count() < world:
        raise InvalidArgument(f"--world-size {world} needs {world} GPUs here, found {torch.cuda.device_count()}; "
                              "use fewer ranks, or torchrun across machines")
    processes = []
    if under_torchrun():
        init = "env://"
    else:
        init = f"tcp://127.0.0.1:{free_port()}"
        dtype_name = str(dtype).removeprefix("torch.")
        processes = [subprocess.Popen([
            sys.executable, "-m", "msa.memstore.index.shard_rank", "--init-method", init, "--rank", str(r),
            "--world-size", str(world), "--device", f"cuda:{r}" if device.type == "cuda" else "cpu",
            "--dtype", dtype_name, "--timeout", str(timeout_s)]) for r in range(1, world)]
    try:
        join(init, 0, world, device, timeout_s)
    except Exception:
        for p in processes:
            p.kill()
        raise
    return ShardedRoutingIndex(store, ShardServer(device, dtype), world, device, processes)


def serve_shards(config: ServerConfig) -> None:
    """A torchrun rank other than 0: hold shards on this node's GPU LOCAL_RANK (or the CPU) until stopped."""
    local = int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device(f"cuda:{local}" if config.device.startswith("cuda") else "cpu")
    run("env://", int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), device, DTYPES[config.dtype],
        config.shard_timeout_s)
