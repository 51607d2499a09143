"""Starting the ranks of a Memory Parallel job (`msa serve --world-size N`).

Rank 0 (`start`) spawns ranks 1..N-1 on this machine, GPU r for rank r on a GPU server, or, under `torchrun`,
joins the job torchrun started; it joins last and gets the index. Every other rank (`run`) joins the process
group, holds its shards and answers rank 0's rounds until rank 0 stops it (or the group fails):

    python -m msa.memstore.index.parallel --init-method tcp://HOST:PORT --rank R --world-size N [--device cuda:R]

Under `torchrun` the ranks read RANK / WORLD_SIZE / MASTER_ADDR / MASTER_PORT from the environment
(`--init-method env://`, or `serve_shards` from `msa serve`).
"""

from __future__ import annotations

import argparse
import datetime
import os
import socket
import subprocess
import sys
from typing import TYPE_CHECKING

import torch
import torch.distributed as dist

from msa.memstore.errors import InvalidArgument
from msa.memstore.index.shard_server import ShardServer, serve_rank
from msa.memstore.index.sharding import ShardedRoutingIndex
from msa.memstore.storage.store import Store
from msa.model.checkpoints.loader import resolve_dtype

if TYPE_CHECKING:
    from msa.memstore.server.config import ServerConfig



def under_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def join(init_method: str, rank: int, world: int, device: torch.device, timeout_s: float) -> None:
    """Join the job's process group: NCCL between GPUs, gloo between CPUs."""
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", init_method=init_method, rank=rank,
                            world_size=world, timeout=datetime.timedelta(seconds=timeout_s))


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
            sys.executable, "-m", "msa.memstore.index.parallel", "--init-method", init, "--rank", str(r),
            "--world-size", str(world), "--device", f"cuda:{r}" if device.type == "cuda" else "cpu",
            "--dtype", dtype_name, "--timeout", str(timeout_s)]) for r in range(1, world)]
    try:
        join(init, 0, world, device, timeout_s)
    except Exception:
        for p in processes:
            p.kill()
        raise
    return ShardedRoutingIndex(store, ShardServer(device, dtype), world, device, processes)


def run(init_method: str, rank: int, world: int, device: torch.device, dtype: torch.dtype, timeout_s: float) -> None:
    """Be rank `rank` (> 0) until rank 0 stops the job."""
    join(init_method, rank, world, device, timeout_s)
    try:
        serve_rank(ShardServer(device, dtype))
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def serve_shards(config: ServerConfig) -> None:
    """A torchrun rank other than 0: hold shards on this node's GPU LOCAL_RANK (or the CPU) until stopped."""
    local = int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device(f"cuda:{local}" if config.device.startswith("cuda") else "cpu")
    run("env://", int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), device,
        resolve_dtype(job_dtype(config.dtype), device), config.shard_timeout_s)


def job_dtype(dtype: str) -> str:
    """The dtype a torchrun job's ranks use: each resolves it on its own host, where "auto" could differ from
    rank 0's (keys of one namespace then scored at two precisions), so there "auto" means float32."""
    return "float32" if dtype == "auto" and under_torchrun() else dtype


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--init-method", default="env://")
    ap.add_argument("--rank", type=int, default=int(os.environ.get("RANK", "0")))
    ap.add_argument("--world-size", type=int, default=int(os.environ.get("WORLD_SIZE", "1")))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds a round may take before the job fails")
    args = ap.parse_args()
    run(args.init_method, args.rank, args.world_size, torch.device(args.device), resolve_dtype(args.dtype),
        args.timeout)


if __name__ == "__main__":
    main()
