"""Rank 0 of a sharding test job (the other ranks run `python -m msa.memstore.shard_rank`): random writes,
updates and deletes patched into a sharded index and a single-device index over one real store; after each
step every router layer's scores and top-k must be identical, and a snapshot taken before later writes
must keep scoring its own state. With --kill, rank 1 is killed after the load and a query must answer
UNAVAILABLE. Prints OK and exits 0 when every check held."""

from __future__ import annotations

import argparse
import os
import random
import signal

import torch

from msa.memstore.errors import Unavailable
from msa.memstore.routing_index import RoutingIndex
from msa.memstore.shard_rank import join
from msa.memstore.sharding import ShardedRoutingIndex, ShardServer
from tests.store_helpers import LAYERS, doc, open_store

NS = "agent"


def scores_by_ordinal(view, q: torch.Tensor) -> dict[int, float]:
    alive = view.alive()
    return dict(zip(view.slot_ordinal[alive].tolist(), view.scores(q)[alive.to(view.device)].tolist(), strict=True))


def same(single: dict, sharded: dict, q: torch.Tensor, k: int) -> None:
    """Same documents, scores and top-k. Scores to 1e-6: the CPU oracle's BLAS may round a chunk's score
    one ulp differently beside other neighbours (on a GPU the kernel's per-row math is the same anywhere)."""
    for layer in LAYERS:
        a, b = scores_by_ordinal(single[layer], q), scores_by_ordinal(sharded[layer], q)
        assert a.keys() == b.keys(), f"layer {layer}: different documents"
        assert max((abs(a[o] - b[o]) for o in a), default=0) <= 1e-6, f"layer {layer}: scores differ"
        ka, kb = single[layer].topk(q, k), sharded[layer].topk(q, k)
        assert ka[0] == kb[0], f"layer {layer}: top-{k} differs"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--store", required=True)
    ap.add_argument("--init-method", required=True)
    ap.add_argument("--world-size", type=int, required=True)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--kill", type=int, default=0, help="pid of rank 1, killed after the load")
    args = ap.parse_args()
    join(args.init_method, 0, args.world_size, torch.device("cpu"), timeout_s=20)
    rng, gen = random.Random(args.seed), torch.Generator().manual_seed(args.seed)
    store = open_store(args.store)
    store.create_namespace(NS)
    single = RoutingIndex(store, "cpu", torch.float32, compact_ratio=0.3)
    sharded = ShardedRoutingIndex(store, ShardServer(torch.device("cpu"), torch.float32, compact_ratio=0.3),
                                  args.world_size)
    indexes = (single, sharded)
    written = [doc(f"m{i}", f"seed memory {i} " * (1 + i % 5), seed=i) for i in range(12)]
    store.write(NS, written)  # before the indexes load: the load path
    ids = [d.id for d in written]
    for index in indexes:
        index.snapshot(NS)
    if args.kill:
        os.kill(args.kill, signal.SIGKILL)
        for _ in range(2):  # the first failure and every call after it
            try:
                sharded.snapshot(NS)[LAYERS[0]].scores(torch.randn(2, 4, 8, generator=gen))
            except Unavailable as e:
                print("unavailable:", e)
            else:
                raise AssertionError("a query with a dead rank answered")
        assert not sharded.healthy
        print("OK")
        return
    old = None
    for step in range(args.steps):
        op = rng.choice(["write", "write", "upsert", "delete"]) if ids else "write"
        if op == "write":
            new = [doc(f"n{step}-{j}", f"memory {step} {j} " * rng.randint(1, 9), seed=1000 + step * 10 + j)
                   for j in range(rng.randint(1, 3))]
            results = store.write(NS, new)
            ids += [d.id for d in new]
            added = {r.ordinal: d.encoding.routing_keys for r, d in zip(results, new, strict=True)}
            for index in indexes:
                index.patch(NS, added, [])
        elif op == "upsert":
            target = rng.choice(ids)
            new = doc(target, f"rewritten {step} " * rng.randint(1, 9), seed=5000 + step)
            (result,) = store.write(NS, [new], mode="upsert")
            for index in indexes:
                index.patch(NS, {result.ordinal: new.encoding.routing_keys}, [])
        else:
            gone = store.delete(NS, [ids.pop(rng.randrange(len(ids)))])
            for index in indexes:
                index.patch(NS, {}, [d.ordinal for d in gone])
        q = torch.randn(rng.randint(1, 3), 4, 8, generator=gen)
        same(single.snapshot(NS), sharded.snapshot(NS), q, k=rng.choice([1, 4, 50]))
        if step == 1:
            too_old = sharded.snapshot(NS)
        if step == args.steps - 10:
            old = (single.snapshot(NS), sharded.snapshot(NS), q)
    same(*old, k=7)  # snapshots taken 10 changes ago still score their own state
    try:  # one from more changes ago than the ranks keep: UNAVAILABLE (retry), not another state's answer
        too_old[LAYERS[0]].scores(q)
    except Unavailable:
        assert sharded.healthy  # a stale snapshot is the caller's problem, not the job's
    else:
        raise AssertionError(f"a snapshot {args.steps - 1} changes old still answered")
    sharded.close()
    print("OK")


if __name__ == "__main__":
    main()
