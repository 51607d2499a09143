"""Data commands: they talk to a running server (`--server` / MSA_SERVER, `--token` / MSA_TOKEN)."""

from __future__ import annotations

import functools
import json
import sys
from datetime import datetime, timezone

import click
from google.protobuf.json_format import MessageToDict

from msa.memstore.client import ClientError, MemoryClient

DEFAULT_SERVER = "127.0.0.1:50051"


def connected(fn):
    """Adds --server/--token/--tls-ca, passes a `client`, and turns server errors into one line."""

    @click.option("--server", envvar="MSA_SERVER", default=DEFAULT_SERVER, show_default=True, help="host:port.")
    @click.option("--token", envvar="MSA_TOKEN", help="Bearer token (MSA_TOKEN).")
    @click.option("--tls-ca", envvar="MSA_TLS_CA", help="PEM CA certificate: connect with TLS.")
    @functools.wraps(fn)
    def wrapper(server: str, token: str | None, tls_ca: str | None, **kwargs):
        try:
            with MemoryClient(server, token=token, tls_ca=tls_ca) as client:
                return fn(client=client, **kwargs)
        except ClientError as e:
            hint = f" (is `msa serve` running at {server}?)" if e.code == "UNAVAILABLE" else ""
            raise click.ClickException(f"{e.code}: {e.message}{hint}") from None

    return wrapper


def pairs(values: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for v in values:
        key, sep, value = v.partition("=")
        if not sep:
            raise click.BadParameter(f"{v!r} is not KEY=VALUE", param_hint="--meta")
        out[key] = value
    return out


def any_of(values: tuple[str, ...]) -> dict[str, list[str]]:
    """KEY=VALUE options -> key: accepted values (a key given twice accepts either value)."""
    out: dict[str, list[str]] = {}
    for v in values:
        key, sep, value = v.partition("=")
        if not sep:
            raise click.BadParameter(f"{v!r} is not KEY=VALUE", param_hint="--where")
        out.setdefault(key, []).append(value)
    return out


def moment(text: str | None) -> float | None:
    """Seconds since the epoch, or an ISO 8601 date / time (UTC unless it names a zone) -> seconds."""
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"{text!r} is neither seconds since the epoch nor an ISO 8601 date") from None
    return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).timestamp()


def filtered(fn):
    """Adds --where and the time-range options, passes `where`, `created` and `updated` (a filter)."""

    @click.option("--where", multiple=True, help="KEY=VALUE metadata filter (repeatable; a key given twice "
                  "accepts either value).")
    @click.option("--created-after", help="Created at or after (epoch seconds or ISO 8601, UTC).")
    @click.option("--created-before", help="Created before (epoch seconds or ISO 8601, UTC).")
    @click.option("--updated-after", help="Last changed at or after (epoch seconds or ISO 8601, UTC).")
    @click.option("--updated-before", help="Last changed before (epoch seconds or ISO 8601, UTC).")
    @functools.wraps(fn)
    def wrapper(where: tuple[str, ...], created_after: str | None, created_before: str | None,
                updated_after: str | None, updated_before: str | None, **kwargs):
        return fn(where=any_of(where), created=(moment(created_after), moment(created_before)),
                  updated=(moment(updated_after), moment(updated_before)), **kwargs)

    return wrapper


def show(message) -> dict:
    return MessageToDict(message, preserving_proto_field_name=True)


@click.group("ns")
def ns() -> None:
    """Namespaces: create, ls, rm."""


@ns.command("create")
@click.argument("name")
@click.option("--description", default="")
@click.option("--history", type=click.IntRange(0, 1000), default=None,
              help="Earlier versions kept per memory [10].")
@connected
def ns_create(client: MemoryClient, name: str, description: str, history: int | None) -> None:
    client.create_namespace(name, description, history)
    click.echo(f"created namespace {name}")


@ns.command("ls")
@connected
def ns_ls(client: MemoryClient) -> None:
    for space in client.list_namespaces():
        click.echo(f"{space.name}\t{space.documents} documents\t{space.description}")


@ns.command("rm")
@click.argument("name")
@click.confirmation_option(prompt="Delete the namespace and all its documents?")
@connected
def ns_rm(client: MemoryClient, name: str) -> None:
    click.echo(f"deleted namespace {name} ({client.delete_namespace(name)} documents)")


@click.command("put")
@click.argument("namespace")
@click.argument("text", required=False)
@click.option("--file", "file", type=click.File("r"), help="Read the text from a file.")
@click.option("--jsonl", is_flag=True, help="Read documents from stdin, one JSON object per line: "
              '{"text": ..., "id": ..., "metadata": {...}}.')
@click.option("--id", "doc_id", help="Document id [generated].")
@click.option("--meta", multiple=True, help="KEY=VALUE metadata (repeatable).")
@click.option("--upsert", is_flag=True, help="Replace documents that exist.")
@click.option("--ttl", type=float, default=0.0, help="Seconds until the memory expires [never].")
@click.option("--batch", default=64, show_default=True, help="Documents per request with --jsonl.")
@connected
def put(client: MemoryClient, namespace: str, text: str | None, file, jsonl: bool, doc_id: str | None,
        meta: tuple[str, ...], upsert: bool, ttl: float, batch: int) -> None:
    """Write a memory (TEXT, --file or --jsonl batches from stdin)."""
    if jsonl:
        try:
            docs = [json.loads(line) for line in sys.stdin if line.strip()]
        except json.JSONDecodeError as e:
            raise click.ClickException(f"stdin is not JSON lines: {e}") from None
        if not all(isinstance(d, dict) and isinstance(d.get("text"), str) for d in docs):
            raise click.ClickException('every line needs {"text": "..."}')
        with click.progressbar(length=len(docs), label="writing", file=sys.stderr) as bar:
            for i in range(0, len(docs), batch):
                client.write(namespace, docs[i:i + batch], upsert=upsert)
                bar.update(len(docs[i:i + batch]))
        click.echo(f"wrote {len(docs)} documents to {namespace}")
        return
    if (text is None) == (file is None):
        raise click.UsageError("give TEXT or --file (or --jsonl)")
    body = text if text is not None else file.read()
    (result,) = client.write(namespace, [{"id": doc_id, "text": body, "metadata": pairs(meta), "ttl_seconds": ttl}],
                             upsert=upsert)
    click.echo(f"{result.id}\tversion {result.version}\t{result.tokens} tokens")


@click.command("update")
@click.argument("namespace")
@click.argument("doc_id", metavar="ID")
@click.option("--text")
@click.option("--meta", multiple=True, help="KEY=VALUE; replaces all metadata (repeatable).")
@click.option("--clear-meta", is_flag=True, help="Remove all metadata.")
@click.option("--expected-version", type=int, default=0, help="Fail unless the document is at this version.")
@click.option("--ttl", type=float, help="Expire this many seconds from now.")
@click.option("--no-expiry", is_flag=True, help="Never expire.")
@connected
def update(client: MemoryClient, namespace: str, doc_id: str, text: str | None, meta: tuple[str, ...],
           clear_meta: bool, expected_version: int, ttl: float | None, no_expiry: bool) -> None:
    """Change a memory's text and/or metadata."""
    if no_expiry and ttl is not None:
        raise click.UsageError("give --ttl or --no-expiry, not both")
    metadata = pairs(meta) if meta or clear_meta else None
    result = client.update(namespace, doc_id, text, metadata, expected_version, 0.0 if no_expiry else None, ttl)
    click.echo(f"{result.id}\tversion {result.version}")


@click.command("get")
@click.argument("namespace")
@click.argument("doc_id", metavar="ID")
@click.option("--version", type=int, default=0, help="An earlier version its history keeps [the current].")
@click.option("--json", "as_json", is_flag=True)
@connected
def get(client: MemoryClient, namespace: str, doc_id: str, version: int, as_json: bool) -> None:
    """Print one memory."""
    doc = client.get(namespace, doc_id, version)
    click.echo(json.dumps(show(doc)) if as_json else doc.text)


@click.command("history")
@click.argument("namespace")
@click.argument("doc_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="One JSON object a version.")
@connected
def history(client: MemoryClient, namespace: str, doc_id: str, as_json: bool) -> None:
    """Every version of a memory still kept, newest first."""
    for doc in client.history(namespace, doc_id):
        if as_json:
            click.echo(json.dumps(show(doc)))
            continue
        when = datetime.fromtimestamp(doc.deleted_at or doc.updated_at, timezone.utc).isoformat(timespec="seconds")
        state = "deleted" if doc.deleted_at else "changed"
        meta = ",".join(f"{k}={v}" for k, v in sorted(doc.metadata.items()))
        click.echo(f"v{doc.version}\t{state} {when}\t{meta}\t{doc.text}")


@click.command("ls")
@click.argument("namespace")
@filtered
@click.option("--json", "as_json", is_flag=True)
@connected
def ls(client: MemoryClient, namespace: str, where: dict, created: tuple, updated: tuple, as_json: bool) -> None:
    """List memories (without text)."""
    for doc in client.list(namespace, where, created=created, updated=updated):
        click.echo(json.dumps(show(doc)) if as_json else f"{doc.id}\tv{doc.version}\t{doc.tokens} tokens\t"
                   + ",".join(f"{k}={v}" for k, v in sorted(doc.metadata.items())))


@click.command("rm")
@click.argument("namespace")
@click.argument("ids", nargs=-1, required=True)
@connected
def rm(client: MemoryClient, namespace: str, ids: tuple[str, ...]) -> None:
    """Delete memories (all or none)."""
    click.echo(f"deleted {client.delete(namespace, list(ids))}")


@click.command("ask")
@click.argument("namespace")
@click.argument("question")
@click.option("--top-k", type=int, default=0, help="Documents read [model default].")
@click.option("--max-new-tokens", type=int, default=256, show_default=True)
@click.option("--read-mode", type=click.Choice(["kv", "text"]), help="[model default]")
@click.option("--temperature", type=float, default=0.0, show_default=True)
@click.option("--rounds", type=int, default=1, show_default=True,
              help="Retrieval rounds (1-4): each next round routes on the question and what the last one read.")
@click.option("--json", "as_json", is_flag=True, help="Print the final event as JSON.")
@filtered
@connected
def ask(client: MemoryClient, namespace: str, question: str, top_k: int, max_new_tokens: int,
        read_mode: str | None, temperature: float, rounds: int, as_json: bool, where: dict, created: tuple,
        updated: tuple) -> None:
    """Ask a question; the answer streams, then citations and timings (stderr).

    The filter options narrow what is read: no other memory is scored, read or cited."""
    for event in client.query(namespace, question, top_k=top_k, max_new_tokens=max_new_tokens,
                              read_mode=read_mode or "", temperature=temperature, interleave_rounds=rounds,
                              where=where, created=created, updated=updated):
        kind = event.WhichOneof("event")
        if kind == "retrieval" and rounds > 1 and not as_json:
            r = event.retrieval
            click.echo(f"  round {r.round}: {len(r.documents)} documents, {r.retrieval_ms:.0f} ms", err=True)
        elif kind == "token" and not as_json:
            click.echo(event.token.text, nl=False)
        elif kind == "final":
            if as_json:
                click.echo(json.dumps(show(event.final)))
            else:
                click.echo()
                report(event.final)


@click.command("recall")
@click.argument("namespace")
@click.argument("question")
@click.option("--top-k", type=int, default=8, show_default=True, help="Memories returned at most.")
@click.option("--text", "with_text", is_flag=True, help="Print each memory's text and metadata too.")
@click.option("--read-mode", type=click.Choice(["kv", "text"]), help="Rank as this reading would [model's].")
@click.option("--json", "as_json", is_flag=True, help="One JSON object a memory.")
@filtered
@connected
def recall(client: MemoryClient, namespace: str, question: str, top_k: int, with_text: bool, read_mode: str | None,
           as_json: bool, where: dict, created: tuple, updated: tuple) -> None:
    """The memories a question would read, best first, without answering (for another model's prompt)."""
    for c in client.retrieve(namespace, question, top_k, with_text, where, created, updated, read_mode or ""):
        if as_json:
            click.echo(json.dumps(show(c)))
        else:
            click.echo(f"[{c.ordinal}] {c.id} v{c.version} score {c.score:.3f}")
            if with_text:
                meta = ",".join(f"{k}={v}" for k, v in sorted(c.metadata.items()))
                click.echo("    " + c.text.replace("\n", "\n    ") + (f"\n    ({meta})" if meta else ""))


def report(final) -> None:
    """Citations and timings of a final event, on stderr."""
    rounds = len({c.round for c in final.citations}) > 1
    for c in final.citations:
        where = f"round {c.round}, " if rounds else ""
        click.echo(f"  [{c.ordinal}] {c.id} v{c.version} {where}score {c.score:.3f}", err=True)
    t = final.timings
    click.echo(f"  route {t.route_ms:.0f} ms, fetch {t.fetch_ms:.0f} ms, prefill {t.prefill_ms:.0f} ms, decode "
               f"{t.decode_ms:.0f} ms ({final.usage.completion_tokens} tokens), total {t.total_ms:.0f} ms", err=True)


COMMANDS = (ns, put, update, get, history, ls, rm, ask, recall)
