"""`msa mcp`: the store's MCP tools over stdio, for a local agent or IDE that launches it."""

from __future__ import annotations

import click

from msa.cli.data import DEFAULT_SERVER


@click.command("mcp")
@click.option("--server", envvar="MSA_SERVER", default=DEFAULT_SERVER, show_default=True, help="host:port.")
@click.option("--token", envvar="MSA_TOKEN", help="Bearer token (MSA_TOKEN).")
@click.option("--tls-ca", envvar="MSA_TLS_CA", help="PEM CA certificate: connect with TLS.")
def mcp_cmd(server: str, token: str | None, tls_ca: str | None) -> None:
    """Serve the store's memory tools over MCP (stdio), bridged to the gRPC server at --server."""
    from msa.memstore.server.mcp import build

    build(server, lambda ctx: token, tls_ca).run("stdio")
