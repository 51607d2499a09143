"""Maintenance commands on a store path (stop the server first for `compact`): check, stats, backup,
restore, compact."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from msa.memstore.errors import StoreError
from msa.memstore.storage.maintenance import compact, restore
from msa.memstore.storage.store import Store

STORE = click.Path(exists=True, file_okay=False, path_type=Path)
NEW_DIR = click.Path(file_okay=False, path_type=Path)


def _open(path: Path, readonly: bool = False) -> Store:
    try:
        return Store(path, readonly=readonly)
    except StoreError as e:
        raise click.ClickException(str(e)) from e


@click.command("check")
@click.argument("store", type=STORE)
def check_cmd(store: Path) -> None:
    """Verify every document's records and blobs (headers, checksums, sizes); exit 1 on any problem."""
    with _open(store, readonly=True) as s:
        total = sum(ns.documents for ns in s.all_namespaces())
        with click.progressbar(length=total, label="checking", file=sys.stderr) as bar:
            problems = s.check(progress=bar.update)
    for p in problems:
        click.echo(p)
    if problems:
        raise click.ClickException(f"{len(problems)} problems in {store}; restore from a backup")
    click.echo(f"{store}: {total} documents, no problems")


@click.command("stats")
@click.argument("store", type=STORE)
def stats_cmd(store: Path) -> None:
    """Documents, tokens, chunks and bytes per blob kind (raw, stored) per namespace, as JSON."""
    with _open(store, readonly=True) as s:
        click.echo(json.dumps(s.stats(), indent=2))


@click.command("backup")
@click.argument("store", type=STORE)
@click.argument("dest", type=NEW_DIR)
def backup_cmd(store: Path, dest: Path) -> None:
    """Copy one consistent snapshot of STORE (compacted) into the new directory DEST, while it is in use."""
    with _open(store, readonly=True) as s:  # a read snapshot: works beside a running server
        try:
            s.backup(dest)
        except StoreError as e:
            raise click.ClickException(str(e)) from e
    click.echo(f"backed up {store} to {dest}")


@click.command("restore")
@click.argument("backup", type=STORE)
@click.argument("dest", type=NEW_DIR)
def restore_cmd(backup: Path, dest: Path) -> None:
    """Verify BACKUP, then copy it into the new store directory DEST."""
    try:
        restore(backup, dest)
    except StoreError as e:
        raise click.ClickException(str(e)) from e
    click.echo(f"restored {backup} into {dest}")


@click.command("compact")
@click.argument("store", type=STORE)
def compact_cmd(store: Path) -> None:
    """Rewrite STORE without free pages (stop the server using it first)."""
    try:
        before, after = compact(store)
    except StoreError as e:
        raise click.ClickException(str(e)) from e
    click.echo(f"compacted {store}: {before} -> {after} bytes")
