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
    "eval": ("msa.cli.eval", "eval_cmd",
             "Measure recall@1/4/16 and answers as memory grows (the paper's degradation curve) and print the table."),
    "export": ("msa.cli.migrate", "export_cmd",
               "Write STORE's memories (text, metadata, ids, versions, times) as JSON lines into the new directory "
               "DEST."),
    "get": ("msa.cli.data", "get", "Print one memory."),
    "history": ("msa.cli.data", "history", "Every version of a memory still kept, newest first."),
    "import": ("msa.cli.migrate", "import_cmd",
               "Load an export SOURCE (`msa export`) into STORE, encoding every memory with STORE's model."),
    "init": ("msa.cli.server", "init_cmd",
             "Create an empty store at STORE, bound to a model (only that model may open it)."),
    "load": ("msa.cli.load", "load_cmd",
             "Bulk-load memories from FILE (JSON lines) into NAMESPACE of STORE, creating it if needed."),
    "ls": ("msa.cli.data", "ls", "List memories (without text)."),
    "mcp": ("msa.cli.mcp_stdio", "mcp_cmd",
            "Serve the store's memory tools over MCP (stdio), bridged to the gRPC server at --server."),
    "model": ("msa.cli.main", "model", "Make, inspect and convert model checkpoints."),
    "ns": ("msa.cli.data", "ns", "Namespaces: create, ls, rm."),
    "put": ("msa.cli.data", "put", "Write a memory (TEXT, --file or --jsonl batches from stdin)."),
    "recall": ("msa.cli.data", "recall",
               "The memories a question would read, best first, without answering (for another model's prompt)."),
    "restore": ("msa.cli.maintenance", "restore_cmd", "Verify BACKUP, then copy it into the new store directory DEST."),
    "rm": ("msa.cli.data", "rm", "Delete memories (all or none)."),
    "serve": ("msa.cli.server", "serve_cmd",
              "Serve the store at STORE over gRPC until SIGTERM / SIGINT (in-flight requests finish)."),
    "stats": ("msa.cli.maintenance", "stats_cmd",
              "Documents, tokens, chunks and bytes per blob kind (raw, stored) per namespace, as JSON."),
    "update": ("msa.cli.data", "update", "Change a memory's text and/or metadata."),
}

MODEL_COMMANDS: dict[str, tuple[str, str, str]] = {
    "default": ("msa.cli.model", "default_cmd",
                "Print the path of the embedded default model (SmolLM2-135M-Instruct), importing it on first use."),
    "embed-teacher": ("msa.cli.train_routing_adapter", "embed_teacher_cmd",
                      "Embed the training data's questions and memories with MiniLM-L6 into a teacher table OUT."),
    "generate": ("msa.cli.model", "generate_cmd", "Answer QUESTION from memory documents, streaming the answer."),
    "import-gguf": ("msa.cli.model", "import_gguf_cmd", "Convert a llama-architecture GGUF file into an MSA "
                    "checkpoint at OUT (routers on the upper half)."),
    "info": ("msa.cli.model", "info_cmd",
             "Print a checkpoint's config, parameter count, router layers and fingerprint."),
    "random": ("msa.cli.model", "random_cmd", "Write a random checkpoint in the published MSA-4B format to OUT."),
    "train-reader": ("msa.cli.train_reader", "train_reader_cmd", "Train a reader adapter for CHECKPOINT (any "
                     "adapter already in it is ignored) on text-mode prompts."),
    "train-router": ("msa.cli.train_router", "train_router",
                     "Train CHECKPOINT's router projections with the InfoNCE routing loss on generated memories."),
    "train-routing-adapter": ("msa.cli.train_routing_adapter", "train_routing_adapter_cmd",
                              "Train a routing adapter for CHECKPOINT with its routers, from the routers it has."),
}


def load(table: dict[str, tuple[str, str, str]], name: str) -> click.Command:
    """The command `name` of a table, importing its module."""
    module, attribute, _ = table[name]
    return getattr(importlib.import_module(module), attribute)


class LazyGroup(click.Group):
    """Imports a command's module only when the command is resolved to run or to show its own help; the
    group's help lists the commands from its table (COMMANDS, MODEL_COMMANDS)."""

    listing = False

    def __init__(self, *args, table: dict[str, tuple[str, str, str]], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.table = table

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self.table})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.table:
            if self.listing:  # `--help`: a stand-in with the same first paragraph, nothing imported
                return click.Command(cmd_name, help=self.table[cmd_name][2])
            self.add_command(load(self.table, cmd_name), cmd_name)
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


@click.group(cls=LazyGroup, table=MODEL_COMMANDS)
def model() -> None:
    """Make, inspect and convert model checkpoints."""


@click.group(cls=LazyGroup, table=COMMANDS)
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
@click.version_option(package_name="msa-memstore")
def cli(verbose: int) -> None:
    """msa-memstore: a persistent memory database for LLM agents, built on MSA."""
    from msa.memstore.server import logs

    logs.setup(["warning", "info", "debug"][min(verbose, 2)])


if __name__ == "__main__":
    cli()
