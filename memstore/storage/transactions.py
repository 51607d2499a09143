"""The LMDB environment of one store and its transactions: one writing process (`writer.lock`) and one write at
a time in it, every write committed (and synced) before it returns, the map grown (doubling, up to
`max_map_size`) when a write fills it, once no read transaction of this process is open. Values are decoded
inside their read transaction."""

from __future__ import annotations

import fcntl
import os
import resource
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import lmdb
import torch

from msa.memstore.errors import CorruptData, StoreBusy, StoreError, StoreFull
from msa.memstore.storage import blob
from msa.memstore.storage.records import ModelBinding

T = TypeVar("T")
S = TypeVar("S", bound="Transactions")
SUBDBS = (b"meta", b"namespaces", b"documents", b"ordinals", b"blobs", b"history")
WRITER_LOCK = "writer.lock"


def claim_writer(path: Path) -> int:
    """Take the store's writer lock (`writer.lock`, an flock) -> its descriptor. Two writers would give the
    same ordinals to different documents, so a second one is refused with who holds it."""
    fd = os.open(path / WRITER_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
        os.close(fd)
        raise StoreBusy(f"{path} is open for writing by {holder}; stop it first (read-only commands such as "
                        "`msa check` and `msa stats` work beside it)") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"pid {os.getpid()}".encode(), 0)
    return fd


class Transactions:
    """The environment at `path` and its named databases (`db`); the base every part of `Store` builds on."""

    binding: ModelBinding  # the model the store is bound to (set by `Store`)
    clock: Callable[[], float]  # now, in seconds since the epoch (set by `Store`)

    def __init__(self, path: Path, map_size: int, max_map_size: int, readonly: bool) -> None:
        self.path, self.max_map_size, self.readonly = path, max_map_size, readonly
        self._writer = None if readonly else claim_writer(path)
        try:  # readers take LMDB's reader lock too: a read-only command beside a writer sees whole commits
            self.env = lmdb.open(str(path), map_size=map_size, max_dbs=len(SUBDBS), subdir=True,
                                 readonly=readonly, lock=True, sync=True, metasync=True, max_readers=1024)
        except BaseException:
            self._release_writer()
            raise
        self.db = {name.decode(): self._open_db(name, readonly) for name in SUBDBS}
        self._write_lock = threading.Lock()
        self._readers = 0
        self._growing = False
        self._cond = threading.Condition()

    def _open_db(self, name: bytes, readonly: bool):
        """A named database; None, read-only, for one a store written before it existed lacks (`history`)."""
        try:
            return self.env.open_db(name, create=not readonly)
        except lmdb.NotFoundError:
            if name != b"history":
                raise
            return None

    @property
    def layers(self) -> tuple[int, ...]:
        """The router layers every document has keys for."""
        return self.binding.router_layers

    def close(self) -> None:
        self.env.close()
        self._release_writer()

    def _release_writer(self) -> None:
        if self._writer is not None:
            os.close(self._writer)  # drops the lock (so does the process's exit, kill -9 included)
            self._writer = None

    def __enter__(self: S) -> S:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def _read_txn(self) -> Iterator[lmdb.Transaction]:
        with self._cond:
            self._cond.wait_for(lambda: not self._growing)
            self._readers += 1
        try:
            with self.env.begin() as txn:
                yield txn
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    def _read(self, fn: Callable[[lmdb.Transaction], T]) -> T:
        with self._read_txn() as txn:
            return fn(txn)

    def _write(self, fn: Callable[[lmdb.Transaction], T]) -> T:
        """Run fn in one write transaction, committed before returning; grow the map when it is full."""
        with self._write_lock:
            while True:
                try:
                    with self.env.begin(write=True) as txn:
                        return fn(txn)
                except lmdb.MapFullError:
                    self._grow()
                except lmdb.Error as e:
                    if self._out_of_space(e):
                        raise StoreFull(f"{self.path}: no space left to write ({e}); free disk space, then "
                                        "retry. The store is still readable.") from e
                    raise StoreError(f"{self.path}: the write failed and was rolled back ({e}); check the disk "
                                     "and run `msa check`") from e

    def _out_of_space(self, e: lmdb.Error) -> bool:
        """ENOSPC, EFBIG or EDQUOT; LMDB reports a short write at commit as EIO, so an I/O error counts
        when the disk is nearly full or the data file is at the process's file size limit."""
        if any(m in str(e) for m in ("No space left", "File too large", "quota")):
            return True
        if "Input/output error" not in str(e):
            return False
        disk = shutil.disk_usage(self.path)
        size = (self.path / "data.mdb").stat().st_size
        limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        return disk.free < 64 << 20 or (limit != resource.RLIM_INFINITY and size + (1 << 20) >= limit)

    def _grow(self) -> None:
        size = self.env.info()["map_size"]
        if size >= self.max_map_size:
            raise StoreFull(f"{self.path} reached its map size limit of {self.max_map_size} bytes; raise "
                            "max_map_size or delete documents. The store is still readable.")
        with self._cond:
            self._growing = True
            try:
                self._cond.wait_for(lambda: self._readers == 0)
                self.env.set_mapsize(min(2 * size, self.max_map_size))
            finally:
                self._growing = False
                self._cond.notify_all()

    def _blob(self, txn: lmdb.Transaction, key: bytes) -> torch.Tensor:
        value = txn.get(key, db=self.db["blobs"])
        if value is None:
            raise CorruptData(f"blob {key!r} is missing; run `msa check`")
        return blob.decode(value)
