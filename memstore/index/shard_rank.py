"""A rank other than 0 of a Memory Parallel job: join the process group, hold this rank's shards, answer
rank 0's rounds until it stops (or the group fails).

    python -m msa.memstore.index.shard_rank --init-method tcp://HOST:PORT --rank R --world-size N [--device cuda:R]

`msa serve --world-size N` starts these itself; under `torchrun` they read RANK / WORLD_SIZE / MASTER_ADDR /
MASTER_PORT from the environment (`--init-method env://`).
"""

from __future__ import annotations

import argparse
import datetime
import os

import torch
import torch.distributed as dist

from msa.memstore.index.sharding import ShardServer, serve_rank

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def join(init_method: str, rank: int, world: int, device: torch.device, timeout_s: float) -> None:
    """Join the job's process group: NCCL between GPUs, gloo between CPUs."""
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", init_method=init_method, rank=rank,
                            world_size=world, timeout=datetime.timedelta(seconds=timeout_s))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--init-method", default="env://")
    ap.add_argument("--rank", type=int, default=int(os.environ.get("RANK", "0")))
    ap.add_argument("--world-size", type=int, default=int(os.environ.get("WORLD_SIZE", "1")))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32", choices=sorted(DTYPES))
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds a round may take before the job fails")
    args = ap.parse_args()
    run(args.init_method, args.rank, args.world_size, torch.device(args.device), DTYPES[args.dtype], args.timeout)


def run(init_method: str, rank: int, world: int, device: torch.device, dtype: torch.dtype, timeout_s: float) -> None:
    """Be rank `rank` until rank 0 stops the job."""
    join(init_method, rank, world, device, timeout_s)
    try:
        serve_rank(ShardServer(device, dtype))
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


if __name__ == "__main__":
    main()
