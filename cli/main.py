"""The `msa` command: one click group, subcommands split by group into modules."""

from __future__ import annotations

import logging

import click

from msa.cli.maintenance import backup_cmd, check_cmd, compact_cmd, restore_cmd, stats_cmd
from msa.cli.model import model
from msa.cli.train_reader import train_reader_cmd
from msa.cli.train_router import train_router


@click.group()
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
@click.version_option(package_name="msa-memstore")
def cli(verbose: int) -> None:
    """msa-memstore: a persistent memory database for LLM agents, built on MSA."""
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)]
    logging.basicConfig(level=level, format='{"time":"%(asctime)s","level":"%(levelname)s",'
                        '"logger":"%(name)s","message":"%(message)s"}')


model.add_command(train_router)
model.add_command(train_reader_cmd)
cli.add_command(model)
for command in (check_cmd, stats_cmd, backup_cmd, restore_cmd, compact_cmd):
    cli.add_command(command)
