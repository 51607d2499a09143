"""Child process of the disk-full test: a file size limit stands in for a full disk. Usage:
python -m tests.disk_full_writer STORE"""

from __future__ import annotations

import resource
import signal
import sys

from msa.memstore.errors import StoreFull
from msa.memstore.storage.store import Store
from tests.store_helpers import BINDING, doc


def main() -> None:
    store = Store(sys.argv[1], BINDING, create=True)
    store.create_namespace("n")
    store.write("n", [doc("first", "kept")])
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
    size = (store.path / "data.mdb").stat().st_size
    resource.setrlimit(resource.RLIMIT_FSIZE, (size + 200_000, resource.RLIM_INFINITY))
    written = 0
    try:
        for i in range(10_000):
            store.write("n", [doc(f"d{i}", "f" * 3000, seed=i)])
            written += 1
    except StoreFull as e:
        print("FULL", written, e, flush=True)
    print("READ", store.get("n", "first").text, len(store.check()), flush=True)


if __name__ == "__main__":
    main()
