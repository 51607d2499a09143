"""Routing questions over all router layers of a sharded namespace (Memory Parallel), MSA-4B geometry.

    python bench/memory_parallel.py --tokens 1e8                          # one GPU
    torchrun --nproc-per-node 2 bench/memory_parallel.py --tokens 1e8     # two GPUs of one host

Random unit-norm bf16 routing keys (8 KV heads x 128 dims per 64-token chunk, documents of 16 chunks), 18
router layers, split over the ranks by the assignment rule; each rank builds its slabs with the index's own
code (`ShardServer`). A query is what the index does for the model: every rank scores its documents with the
route kernel and keeps its candidates for the top k (each layer's, the layers' mean and max), rank 0 merges
them and takes the top k of every row. Rounds (`exchange`): one for all layers, as text reading routes, or
one per router layer, as KV reading does; several questions in one round, as concurrent questions go
(`CallBatcher`: each rank reads its keys once per launch for all of them). Reported per round: the time,
per question, rank 0's own part alone (scoring and candidates, no collectives), the difference (what the
rounds cost), and, where rank 0 has room for every document too (`--baseline`, e.g. 100M tokens on two
H200s), the one-GPU time measured in the same run.
"""

from __future__ import annotations

import argparse
import datetime
import os
import time
from collections.abc import Callable

import torch
import torch.distributed as dist
import torch.nn.functional as F

from msa.kernels.route import top_k_rows
from msa.memstore.index.routing_index import CLEAN, Slab
from msa.memstore.index.selection import assign, merge, ranked_rows
from msa.memstore.index.shard_messages import Select, Stop, exchange
from msa.memstore.index.shard_server import ShardServer, ShardSpace

GROUPS, HEADS, DIM, DOC_CHUNKS, LAYERS, K = 8, 32, 128, 16, 18, 16
NS, SPEC = 0, 1  # the ids every rank knows the namespace and the spec by
BATCHES = 16  # documents' keys generated and added in this many parts


def build(server: ShardServer, docs: list[int], layers: int, device: torch.device) -> None:
    """The documents' slab on `server`, BATCHES batches of documents at a time (the slab copy needs no second
    set of keys)."""
    space = ShardSpace(Slab(device, torch.bfloat16, 0.25, list(range(layers)), capacity=len(docs) * DOC_CHUNKS))
    step = max(1, -(-len(docs) // BATCHES))
    for start in range(0, len(docs), step):
        part = docs[start:start + step]
        keys = {layer: F.normalize(torch.randn(len(part) * DOC_CHUNKS, GROUPS, DIM, device=device,
                                               dtype=torch.bfloat16), dim=-1) for layer in range(layers)}
        space.slab.apply([(d, {layer: k[i * DOC_CHUNKS:(i + 1) * DOC_CHUNKS] for layer, k in keys.items()})
                          for i, d in enumerate(part)], [])
        del keys
    space.publish(1)
    server.spaces["bench"] = space
    server.terms.update({NS: "bench", SPEC: CLEAN})


def best(table: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """What the model takes from the merged candidates: every layer's top k, the mean's and the max's."""
    return top_k_rows(ranked_rows(table), K)


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed(fns: list[Callable[[], object]], queries: int) -> list[float]:
    """Median ms of each of `fns` over `queries` runs after one warm-up each (autotuning, allocator), taken in
    turn so that drift (clocks, heat) falls on all alike."""
    for fn in fns:
        fn()
    times = [[] for _ in fns]
    for _ in range(queries):
        for fn, out in zip(fns, times, strict=True):
            sync()
            start = time.perf_counter()
            fn()
            sync()
            out.append((time.perf_counter() - start) * 1e3)
    return [sorted(t)[queries // 2] for t in times]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=float, default=1e8)
    ap.add_argument("--layers", type=int, default=LAYERS)
    ap.add_argument("--queries", type=int, default=20)
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 4, 8, 16, 32],
                    help="questions routed together in one round (concurrent questions)")
    ap.add_argument("--baseline", action="store_true", help="rank 0 also holds every document: the one-GPU time")
    args = ap.parse_args()
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", "29511")
    rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    if torch.cuda.is_available():
        device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}")
        torch.cuda.set_device(device)
    else:  # a smoke run of the code on CPUs: its times mean nothing
        device = torch.device("cpu")
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=rank, world_size=world)
    docs = int(args.tokens) // 64 // DOC_CHUNKS
    owner = assign(((d, DOC_CHUNKS) for d in range(docs)), world)
    start = time.perf_counter()
    server = ShardServer(device, torch.bfloat16)
    build(server, [d for d in range(docs) if owner[d] == rank], args.layers, device)
    sync()
    built = time.perf_counter() - start
    if rank != 0:
        while not isinstance(exchange(server.handle, None)[0], Stop):
            pass
        dist.destroy_process_group()
        return
    q = torch.randn(max(args.batches), 16, HEADS, DIM, device=device)  # one per question of a batch
    layers = tuple(range(args.layers))
    every = (layers,)
    each = tuple((layer,) for layer in layers)

    def command(part: tuple[int, ...], questions: int) -> Select:
        return Select(NS, 1, part, q[:questions, None].expand(questions, len(part), *q.shape[1:]),
                      (q.shape[1],) * questions, SPEC, K)

    def query(rounds: tuple[tuple[int, ...], ...], questions: int) -> None:
        for part in rounds:
            replies = exchange(server.handle, [command(part, questions)] * world)[1]
            for b in range(questions):
                best(merge([(o[b], v[b]) for o, v in replies])[1])

    def alone(target: ShardServer, rounds: tuple[tuple[int, ...], ...], questions: int) -> None:
        for part in rounds:
            ordinals, scores = (t.cpu() for t in target.handle(command(part, questions)))
            for b in range(questions):
                best(merge([(ordinals[b], scores[b])])[1])

    cases = [("one for all layers (text reading)", every, b) for b in args.batches]
    cases.append(("one per router layer (KV reading)", each, 1))
    rows = [timed([lambda r=r, b=b: query(r, b), lambda r=r, b=b: alone(server, r, b)], args.queries)
            for _, r, b in cases]
    whole = None
    if args.baseline and world > 1:
        whole = ShardServer(device, torch.bfloat16)
        build(whole, list(range(docs)), args.layers, device)
        whole = timed([lambda r=r, b=b: alone(whole, r, b) for _, r, b in cases], args.queries)
    elif world == 1:
        whole = [ms for ms, _ in rows]
    key_gb = docs * DOC_CHUNKS * GROUPS * DIM * 2 * args.layers / 1e9
    name = torch.cuda.get_device_name() if device.type == "cuda" else "CPU"
    print(f"{datetime.date.today()}; {world} x {name}; {args.tokens:.0e} tokens, {docs:,} "
          f"documents, {args.layers} router layers, {key_gb:.1f} GB of bf16 routing keys ({key_gb / world:.1f} GB "
          f"per rank, built in {built:.0f} s); top-{K}")
    print("| ranks | rounds | questions per round | per round (ms) | per question (ms) | rank 0 alone (ms) | "
          "rounds' cost (ms) | one GPU (ms) | ratio |")
    print("|---|---|---|---|---|---|---|---|---|")
    for i, ((label, _, b), (ms, local)) in enumerate(zip(cases, rows, strict=True)):
        one = f"{whole[i]:.2f} | {ms / whole[i]:.3f}" if whole else "- | -"
        print(f"| {world} | {label} | {b} | {ms:.2f} | {ms / b:.2f} | {local:.2f} | {ms - local:.2f} | {one} |",
              flush=True)
    exchange(server.handle, [Stop()] * world)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
