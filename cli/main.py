"""The `msa` command: one click group, subcommands split by group into modules."""

from __future__ import annotations

import click

from msa.cli import data
from msa.cli.demo import demo_cmd
from msa.cli.maintenance import backup_cmd, check_cmd, compact_cmd, restore_cmd, stats_cmd
from msa.cli.model import model
from msa.cli.server import init_cmd, serve_cmd
from msa.cli.train_reader import train_reader_cmd
from msa.cli.train_router import train_router
from msa.cli.train_routing_adapter import train_routing_adapter_cmd


@click.group()
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
@click.version_option(package_name="msa-memstore")
def cli(verbose: int) -> None:
    """msa-memstore: a persistent memory database for LLM agents, built on MSA."""
    from msa.memstore.server import logs

    logs.setup(["warning", "info", "debug"][min(verbose, 2)])


model.add_command(train_router)
model.add_command(train_reader_cmd)
model.add_command(train_routing_adapter_cmd)
cli.add_command(model)
MAINTENANCE = (check_cmd, stats_cmd, backup_cmd, restore_cmd, compact_cmd)
for command in (demo_cmd, serve_cmd, init_cmd, *data.COMMANDS, *MAINTENANCE):
    cli.add_command(command)


if __name__ == "__main__":
    cli()
