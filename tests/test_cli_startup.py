"""The CLI starts fast (issue 18): importing it, `msa --help` and a data command import no torch, numpy, lmdb or
safetensors; the lazily listed commands are the real ones, with the same help. Timings are in docs/server.md;
here only the import set is checked (a timing test would be flaky)."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from msa.cli import main

# Every top-level command, as `msa --help` listed them before the lazy loading (and `load`, `mcp`, `recall`,
# `export`, `import`, `history` and `eval`, added since).
EXPECTED = ["ask", "backup", "check", "compact", "demo", "eval", "export", "get", "history", "import", "init", "load",
            "ls", "mcp", "model", "ns", "put", "recall", "restore", "rm", "serve", "stats", "update"]
HEAVY = ("torch", "numpy", "lmdb", "safetensors", "triton", "msa.memstore.storage", "msa.memstore.engine",
         "msa.model.api")


def imported_after(code: str) -> set[str]:
    """Top-level names of HEAVY found in sys.modules after running `code` in a fresh interpreter."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps([m for m in {list(HEAVY)!r} if m in sys.modules]))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_importing_the_cli_imports_nothing_heavy():
    assert imported_after("import msa.cli.main") == set()


def test_help_and_a_data_command_import_nothing_heavy():
    run = ("from msa.cli.main import cli\nfrom click.testing import CliRunner\n"
           "for args in ([], ['--help'], ['ls', '--help'], ['ask', '--help'], ['ns', 'ls', '--help'],"
           " ['ls', 'notes', '--server', '127.0.0.1:1'], ['model', '--help'], ['model', 'random', '--help']):\n"
           "    CliRunner().invoke(cli, args)\n")
    assert imported_after(run) == set()
    data = subprocess.run([sys.executable, "-c", "import msa.cli.data, sys; print('grpc' in sys.modules)"],
                          capture_output=True, text=True, timeout=120)
    assert data.stdout.strip() == "True"  # the probe sees what a data command imports


@pytest.mark.parametrize(("group", "args", "table"), [(main.cli, ["--help"], main.COMMANDS),
                                                      (main.model, ["model", "--help"], main.MODEL_COMMANDS)])
def test_help_lists_every_command_as_the_command_itself_would(group, args, table):
    listed = CliRunner().invoke(main.cli, args, terminal_width=80)
    assert listed.exit_code == 0, listed.output
    names = listed.output.split("Commands:\n")[1].split()
    ctx = click.Context(group)
    for name, (_, _, first_paragraph) in table.items():
        command = group.get_command(ctx, name)  # imports its module
        assert isinstance(command, click.Command) and command.name == name
        assert inspect.cleandoc(command.help).split("\n\n")[0] == first_paragraph, name
        assert name in names
    # With every module loaded, click lists the real commands: the same text as the lazy listing.
    loaded = CliRunner().invoke(main.cli, args, terminal_width=80)
    assert set(group.commands) == set(table)
    assert loaded.output == listed.output


def test_the_installed_command_shows_help_for_every_command():
    top = subprocess.run(["msa", "--help"], capture_output=True, text=True, timeout=120)
    assert top.returncode == 0, top.stderr
    assert "msa-memstore: a persistent memory database" in top.stdout
    listed = [line.split()[0] for line in top.stdout.split("Commands:\n")[1].splitlines() if line.strip()]
    assert listed == EXPECTED == sorted(main.COMMANDS)
    ls = subprocess.run(["msa", "ls", "--help"], capture_output=True, text=True, timeout=120)
    assert ls.returncode == 0 and "List memories (without text)." in ls.stdout and "--server" in ls.stdout
    model = CliRunner().invoke(main.cli, ["model", "--help"])
    for sub in ("default", "generate", "import-gguf", "info", "random", "train-reader", "train-router",
                "train-routing-adapter"):
        assert f"  {sub} " in model.output, sub


def test_a_data_command_reports_an_unreachable_server_in_one_line():
    out = CliRunner().invoke(main.cli, ["ls", "notes", "--server", "127.0.0.1:1"])
    assert out.exit_code == 1
    assert "UNAVAILABLE" in out.output and "is `msa serve` running at 127.0.0.1:1?" in out.output
