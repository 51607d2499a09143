"""Routing one question over all router layers of a sharded namespace (Memory Parallel), MSA-4B geometry.

    python bench/memory_parallel.py --tokens 1e8                          # one GPU
    torchrun --nproc-per-node 2 bench/memory_parallel.py --tokens 1e8     # two GPUs of one host

Random unit-norm bf16 routing keys (8 KV heads x 128 dims per 64-token chunk, documents of 16 chunks), 18
router layers, split over the ranks by the assignment rule; each rank builds its slabs with the index's own
code (`ShardServer`). Per query rank 0 runs the index's rounds (`exchange`: broadcast routing queries, every rank
scores its documents with the route kernel, gather the scores): one per router layer, as KV reading needs,
or one for all layers, as text reading does. Reported: per-query time, the same scoring on rank 0 without
collectives, and the difference.
"""

from __future__ import annotations

import argparse
import datetime
import os
import time

import torch
import torch.distributed as dist
import torch.nn.functional as F

from msa.memstore.routing_index import CLEAN, Slab
from msa.memstore.sharding import ShardServer, _Space, assign, exchange

GROUPS, HEADS, DIM, DOC_CHUNKS, LAYERS = 8, 32, 128, 16, 18


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=float, default=1e8)
    ap.add_argument("--layers", type=int, default=LAYERS)
    ap.add_argument("--queries", type=int, default=10)
    args = ap.parse_args()
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", "29511")
    rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}")
    torch.cuda.set_device(device)
    dist.init_process_group("nccl", rank=rank, world_size=world)
    server = ShardServer(device, torch.bfloat16)
    docs = int(args.tokens) // 64 // DOC_CHUNKS
    owner = assign(((d, DOC_CHUNKS) for d in range(docs)), world)
    mine = [d for d in range(docs) if owner[d] == rank]
    start = time.perf_counter()
    space = _Space({layer: Slab(device, torch.bfloat16, 0.25) for layer in range(args.layers)})
    for slab in space.slabs.values():  # one layer's keys at a time: the slab copy needs no second full set
        keys = F.normalize(torch.randn(len(mine) * DOC_CHUNKS, GROUPS, DIM, device=device, dtype=torch.bfloat16),
                           dim=-1)
        slab.apply([(d, keys[i * DOC_CHUNKS:(i + 1) * DOC_CHUNKS]) for i, d in enumerate(mine)], [])
        del keys
    space.publish(1)
    server.spaces["bench"] = space
    torch.cuda.synchronize()
    built = time.perf_counter() - start
    if rank != 0:
        while exchange(server, None)[0][0] != "stop":
            pass
        dist.destroy_process_group()
        return
    q = torch.randn(16, HEADS, DIM)

    layers = tuple(range(args.layers))

    def one_query(mode: str) -> float:
        """'layer': a round per router layer (KV reading); 'query': all layers in one round (text reading);
        'local': rank 0's scoring alone."""
        t = time.perf_counter()
        if mode == "query":
            exchange(server, [("scores", "bench", 1, layers, q.expand(len(layers), *q.shape), CLEAN)] * world)
        for layer in layers if mode != "query" else ():
            command = ("scores", "bench", 1, (layer,), q[None], CLEAN)
            if mode == "layer":
                exchange(server, [command] * world)
            else:
                server.handle(command)
        torch.cuda.synchronize()
        return (time.perf_counter() - t) * 1e3

    def median(mode: str) -> float:
        return sorted(one_query(mode) for _ in range(args.queries))[args.queries // 2]

    for mode in ("layer", "query", "local"):  # warm-up: autotuning, allocator
        one_query(mode)
    per_layer, per_query, local = median("layer"), median("query"), median("local")
    key_gb = docs * DOC_CHUNKS * GROUPS * DIM * 2 * args.layers / 1e9
    print(f"{datetime.date.today()}; {world} x {torch.cuda.get_device_name()}; {args.tokens:.0e} tokens, {docs:,} "
          f"documents, {args.layers} router layers, {key_gb:.1f} GB of bf16 routing keys ({key_gb / world:.1f} GB "
          f"per rank, built in {built:.0f} s)")
    print("| ranks | rounds | per query (ms) | rank 0 scoring alone (ms) | overhead (ms) |")
    print("|---|---|---|---|---|")
    for name, ms in (("one per router layer (KV reading)", per_layer), ("one for all layers (text reading)",
                                                                      per_query)):
        print(f"| {world} | {name} | {ms:.2f} | {local:.2f} | {ms - local:.2f} |", flush=True)
    exchange(server, [("stop",)] * world)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
