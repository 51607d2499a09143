"""The `msa` command: one click group, subcommands split by group into modules.

The modules are imported lazily: `msa --help` lists every command from the table below without importing any,
and a command imports only its own module (a data command needs click, grpc and the client; torch, numpy and
the store load only in the commands that use them). tests/test_cli_startup.py checks the table against the
commands and that importing this module pulls in none of the heavy packages."""

from __future__ import annotations

import importlib

import click

# name -> (module, attribute, the first paragraph of its help: what `msa --help` lists without importing it)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "ask": ("msa.cli.data", "ask", "Ask a question; the answer streams, then citations and timings (stderr)."),
    "backup": ("msa.cli.maintenance", "backup_cmd",
               "Copy one consistent snapshot of STORE (compacted) into the new directory DEST, while it is in use."),
    "check": ("msa.cli.maintenance", "check_cmd",
              "Verify every document's records and blobs (headers, checksums, sizes); exit 1 on any problem."),
    "compact": ("msa.cli.maintenance", "compact_cmd",
                "Rewrite STORE without free pages (stop the server using it first)."),
    "demo": ("msa.cli.demo", "demo_cmd",
             "Write ~200 memories to a fresh store over gRPC and ask five questions about them."),
    "get": ("msa.cli.data", "get", "Print one memory."),
    "init": ("msa.cli.server", "init_cmd",
             "Create an empty store at STORE, bound to a model (only that model may open it)."),
    "ls": ("msa.cli.data", "ls", "List memories (without text)."),
    "model": ("msa.cli.main", "model_group", "Make, inspect and convert model checkpoints."),
    "ns": ("msa.cli.data", "ns", "Namespaces: create, ls, rm."),
    "put": ("msa.cli.data", "put", "Write a memory (TEXT, --file or --jsonl batches from stdin)."),
    "restore": ("msa.cli.maintenance", "restore_cmd", "Verify BACKUP, then copy it into the new store directory DEST."),
    "rm": ("msa.cli.data", "rm", "Delete memories (all or none)."),
    "serve": ("msa.cli.server", "serve_cmd",
              "Serve the store at STORE over gRPC until SIGTERM / SIGINT (in-flight requests finish)."),
    "stats": ("msa.cli.maintenance", "stats_cmd",
              "Documents, tokens, chunks and bytes per blob kind (raw, stored) per namespace, as JSON."),
    "update": ("msa.cli.data", "update", "Change a memory's text and/or metadata."),
}


def model_group() -> click.Group:
    """`msa model` with the training commands, which live in their own modules."""
    from msa.cli.model import model
    from msa.cli.train_reader import train_reader_cmd
    from msa.cli.train_router import train_router
    from msa.cli.train_routing_adapter import train_routing_adapter_cmd

    for command in (train_router, train_reader_cmd, train_routing_adapter_cmd):
        model.add_command(command)
    return model


def load(name: str) -> click.Command:
    """The command `name`, importing its module."""
    module, attribute, _ = COMMANDS[name]
    found = getattr(importlib.import_module(module), attribute)
    return found if isinstance(found, click.Command) else found()


class LazyGroup(click.Group):
    """Imports a command's module only when the command is resolved to run or to show its own help; the
    group's help lists the commands from COMMANDS."""

    listing = False

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            if self.listing:  # `msa --help`: a stand-in with the same first paragraph, nothing imported
                return click.Command(cmd_name, help=COMMANDS[cmd_name][2])
            self.add_command(load(cmd_name), cmd_name)
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self.listing = True
        try:
            super().format_commands(ctx, formatter)
        finally:
            self.listing = False

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except RuntimeError as e:  # the default model's package missing (e.g. `msa serve` without --model)
            from msa.model.checkpoints.default import DefaultModelError

            if isinstance(e, DefaultModelError):
                raise click.ClickException(str(e)) from e
            raise


@click.group(cls=LazyGroup)
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
@click.version_option(package_name="msa-memstore")
def cli(verbose: int) -> None:
    """msa-memstore: a persistent memory database for LLM agents, built on MSA."""
    from msa.memstore.server import logs

    logs.setup(["warning", "info", "debug"][min(verbose, 2)])


if __name__ == "__main__":
    cli()
