"""Rank 0 of a sharding test job (the other ranks run `python -m msa.memstore.index.parallel`): random writes,
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

from msa.kernels.route import top_k_rows
from msa.memstore.errors import Unavailable
from msa.memstore.index.parallel import join
from msa.memstore.index.passing import Passing
from msa.memstore.index.routing_index import CLEAN, RoutingIndex
from msa.memstore.index.shard_server import ShardServer
from msa.memstore.index.sharding import ShardedRoutingIndex
from tests.store_helpers import LAYERS, doc, open_store

NS = "agent"


def table(views: dict, queries: dict[int, torch.Tensor]) -> tuple[list[int], torch.Tensor]:
    """The single-device index's scores of every live document: (ordinals ascending, [L, N])."""
    first = views[LAYERS[0]]
    live = first.live_slots
    return (first.slot_ordinal[live].tolist(),
            torch.stack([views[layer].scores(q, CLEAN)[views[layer].live_slots] for layer, q in queries.items()]))


def ranked(ordinals: list[int], scores: torch.Tensor, k: int) -> list[list[int]]:
    """Each layer's top k, then the layers' mean and max top k, as ordinals."""
    rows = torch.cat([scores, scores.mean(0, keepdim=True), scores.amax(0, keepdim=True)])
    idx, vals = top_k_rows(rows, k)
    return [[ordinals[i] for i, v in zip(r.tolist(), w.tolist(), strict=True) if v > float("-inf")]
            for r, w in zip(idx, vals, strict=True)]


def same(single: dict, sharded: dict, queries: dict[int, torch.Tensor], k: int) -> None:
    """The sharded candidates carry the single index's scores (to 1e-6: the CPU oracle's BLAS may round a chunk's
    score one ulp differently beside other neighbours; a GPU kernel's per-row math is the same anywhere), and
    every layer's top k and the mean and max top k over them are the single index's, ties included."""
    ordinals, full = table(single, queries)
    numbers, scores = sharded.select(queries, CLEAN, k)
    column = torch.searchsorted(torch.tensor(ordinals), numbers)
    assert torch.equal(torch.tensor(ordinals)[column], numbers), "a candidate the single index does not hold"
    diff = (scores - full[:, column]).abs()
    assert diff.numel() == 0 or float(diff.max()) <= 1e-6, "scores differ"
    assert ranked(numbers.tolist(), scores, k) == ranked(ordinals, full, k), f"top-{k} differs"
    other = {layer: q[:1] * 2 for layer, q in queries.items()}  # concurrent questions share one round
    for (n1, s1), (n2, s2) in zip(sharded.select_many([queries, other], CLEAN, k),
                                  [(numbers, scores), sharded.select(other, CLEAN, k)], strict=True):
        assert torch.equal(n1, n2) and torch.equal(s1, s2), "a question routed with another differs"
    for i, (layer, q) in enumerate(queries.items()):  # one layer alone, as KV reading routes
        numbers, scores = sharded.select({layer: q}, CLEAN, k)
        assert ranked(numbers.tolist(), scores, k) == ranked(ordinals, full[i:i + 1], k), f"layer {layer} differs"
    # a filter's documents (with an ordinal that is not live): the top k among those alone, on both indexes
    pool = [*ordinals, max(ordinals, default=0) + 1]
    picked = random.Random(k * 7919 + len(ordinals)).sample(pool, 1 + len(ordinals) // 3)
    allowed = Passing.of(torch.tensor(picked), max(pool) + 1)
    keep = [i for i, o in enumerate(ordinals) if o in picked]
    want = ranked([ordinals[i] for i in keep], full[:, keep], k)
    for index in (single, sharded):
        ((numbers, scores),) = index.select_many([queries], CLEAN, k, allowed)
        assert set(numbers.tolist()) <= set(picked), "a document outside the filter was returned"
        assert ranked(numbers.tolist(), scores, k) == want, f"filtered top-{k} differs ({type(index).__name__})"


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
                sharded.snapshot(NS).select({LAYERS[0]: torch.randn(2, 4, 8, generator=gen)}, CLEAN, 3)
            except Unavailable as e:
                print("unavailable:", e)
            else:
                raise AssertionError("a query with a dead rank answered")
        assert not sharded.check()
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
        s = rng.randint(1, 3)
        q = {layer: torch.randn(s, 4, 8, generator=gen) for layer in LAYERS}
        same(single.snapshot(NS), sharded.snapshot(NS), q, k=rng.choice([1, 2, 4, 50]))
        if step == 1:
            too_old = sharded.snapshot(NS)
        if step == args.steps - 10:
            old = (single.snapshot(NS), sharded.snapshot(NS), q)
    same(*old, k=7)  # snapshots taken 10 changes ago still score their own state
    try:  # one from more changes ago than the ranks keep: UNAVAILABLE (retry), not another state's answer
        too_old.select(q, CLEAN, 4)
    except Unavailable:
        assert sharded.check()  # a stale snapshot is the caller's problem, not the job's
    else:
        raise AssertionError(f"a snapshot {args.steps - 1} changes old still answered")
    sharded.close()
    print("OK")


if __name__ == "__main__":
    main()
