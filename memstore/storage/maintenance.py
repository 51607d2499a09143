"""Whole-store operations on a path: restore from a backup and compact in place (the store closed)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from msa.memstore.errors import AlreadyExists, CorruptData, NotFound
from msa.memstore.storage.store import Store


def restore(backup: str | Path, target: str | Path) -> list[str]:
    """Copy BACKUP (a `Store.backup` directory) to the new store directory TARGET, verified first;
    -> the problems `check` found (empty: sound). A damaged backup is refused and TARGET not made."""
    backup, target = Path(backup), Path(target)
    if not (backup / "data.mdb").exists():
        raise NotFound(f"{backup} holds no store backup (no data.mdb)")
    if target.exists() and any(target.iterdir()):
        raise AlreadyExists(f"{target} is not empty; restore into a new directory")
    with Store(backup, readonly=True) as store:
        problems = store.check()
    if problems:
        raise CorruptData(f"{backup} fails its check ({len(problems)} problems, first: {problems[0]})")
    target.mkdir(parents=True, exist_ok=True)
    tmp = target / "data.mdb.restoring"
    shutil.copyfile(backup / "data.mdb", tmp)
    with tmp.open("rb") as f:
        os.fsync(f.fileno())  # on disk before it takes the store's name
    os.replace(tmp, target / "data.mdb")
    return problems


def compact(path: str | Path) -> tuple[int, int]:
    """Rewrite the store at PATH without free pages. Needs every other user of the store closed (stop
    the server first). -> (bytes before, bytes after)."""
    path = Path(path)
    before = (path / "data.mdb").stat().st_size
    with tempfile.TemporaryDirectory(dir=path) as tmp:
        with Store(path) as store:
            store.backup(Path(tmp) / "copy")
        os.replace(Path(tmp) / "copy" / "data.mdb", path / "data.mdb")
    return before, (path / "data.mdb").stat().st_size
