"""`promptevolve keys create|list|revoke`: API keys for the API and the dashboard.

A key is printed once, by `create`, and never again (only its SHA-256 is stored); `list` shows names,
prefixes and scopes; `revoke` takes a prefix (or the name of a single active key).
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from promptevolve.access import KeyService
from promptevolve.cli.common import JsonOpt, console, context_store, err_console, print_json

__all__ = ["app"]

app = typer.Typer(help="API keys: create (shown once), list, revoke.", no_args_is_help=True)


@app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[
        str, typer.Option("--name", "-n", help="Who or what uses the key (e.g. ci, lead-service).")
    ],
    scopes: Annotated[
        str,
        typer.Option(
            "--scopes", "-s", help="Comma-separated: read, execute, admin (admin includes the others)."
        ),
    ],
    as_json: JsonOpt = False,
) -> None:
    """Create an API key and print it once: store it now, it cannot be shown again."""
    with context_store(ctx) as (store, _):
        created = KeyService(store).create(name, [scopes])
    info = created.info
    if as_json:
        print_json({"name": info.name, "prefix": info.prefix, "scopes": info.scopes, "key": created.key})
        return
    err_console.print(
        f"created key [bold]{info.name}[/] (pe_{info.prefix}…) with scopes {', '.join(info.scopes)}; "
        "it is shown once, store it now:",
        markup=True,
    )
    typer.echo(created.key)


@app.command("list")
def list_keys(
    ctx: typer.Context,
    include_revoked: Annotated[bool, typer.Option("--all", help="Include revoked keys.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """List API keys (never their secrets)."""
    with context_store(ctx) as (store, _):
        keys = KeyService(store).list(include_revoked=include_revoked)
    if as_json:
        print_json(keys)
        return
    table = Table(title="API keys")
    for col in ("name", "prefix", "scopes", "created", "last used", "state"):
        table.add_column(col)
    for k in keys:
        table.add_row(
            k.name,
            f"pe_{k.prefix}…",
            ", ".join(k.scopes),
            f"{k.created_at:%Y-%m-%d %H:%M}",
            f"{k.last_used_at:%Y-%m-%d %H:%M}" if k.last_used_at else "never",
            "active" if k.active else f"revoked {k.revoked_at:%Y-%m-%d %H:%M}",
        )
    console.print(table)
    if not keys:
        console.print("no keys: `promptevolve keys create --name NAME --scopes read` makes one")


@app.command("revoke")
def revoke(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="The key's prefix (pe_1a2b3c4d or 1a2b3c4d) or its name.")],
) -> None:
    """Revoke an API key: it stops working at once, on every server, and its dashboard sessions end."""
    with context_store(ctx) as (store, _):
        info = KeyService(store).revoke(key)
    console.print(f"revoked {info.name} (pe_{info.prefix}…)")
