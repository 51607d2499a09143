"""Child process of the crash test: writes documents into a store forever, printing each id once its
write call has returned (acknowledged). Usage: python -m tests.crash_writer STORE SEED"""

from __future__ import annotations

import random
import sys

from msa.memstore.store import Store
from tests.store_helpers import BINDING, doc


def main() -> None:
    path, seed = sys.argv[1], int(sys.argv[2])
    rng = random.Random(seed)
    store = Store(path, BINDING, create=True, map_size=1 << 20)  # small map: growth happens under fire
    if not store.list_namespaces()[0]:
        store.create_namespace("crash")
    i = 0
    while True:
        batch = [doc(f"s{seed}-{i + j}", "z" * rng.randint(1, 3000), seed=i + j) for j in range(rng.randint(1, 4))]
        if rng.random() < 0.2 and i:
            store.update("crash", f"s{seed}-{rng.randrange(i)}", metadata={"touched": str(i)})
        store.write("crash", batch, mode="upsert")
        for d in batch:
            print(d.id, flush=True)
        i += len(batch)


if __name__ == "__main__":
    main()
