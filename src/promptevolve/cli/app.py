"""The `promptevolve` command: a thin Typer app over the library; one module per noun."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from promptevolve.cli import ab as ab_cli
from promptevolve.cli import autopilot as autopilot_cli
from promptevolve.cli import calls as calls_cli
from promptevolve.cli import dataset as dataset_cli
from promptevolve.cli import jobs as jobs_cli
from promptevolve.cli import keys as keys_cli
from promptevolve.cli import prompt as prompt_cli
from promptevolve.cli import scoring as scoring_cli
from promptevolve.cli import serve as serve_cli
from promptevolve.cli.common import ErrorMappingGroup, console, state_of
from promptevolve.cli.demo import demo
from promptevolve.cli.evolve import eval_, evolve
from promptevolve.cli.worker import worker
from promptevolve.compose import compose
from promptevolve.examples.lead_enrichment.baselines import install_baselines
from promptevolve.store.backup import backup, restore
from promptevolve.store.engine import Store, describe_url
from promptevolve.store.migrate import head_revision, schema_status, upgrade

__all__ = ["app", "main"]

app = typer.Typer(
    cls=ErrorMappingGroup,
    help="promptevolve: prompts that get better on their own, safely.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
db_app = typer.Typer(
    help="The database: migrations, schema status, backup and restore.", no_args_is_help=True
)
app.add_typer(prompt_cli.app, name="prompt")
app.add_typer(db_app, name="db")
app.command("demo")(demo)
app.add_typer(dataset_cli.app, name="dataset")
app.command("evolve")(evolve)
app.command("eval")(eval_)
app.command("run")(calls_cli.run)
app.add_typer(calls_cli.feedback_app, name="feedback")
app.add_typer(calls_cli.executions_app, name="executions")
app.add_typer(keys_cli.app, name="keys")
app.command("serve")(serve_cli.serve)
app.command("worker")(worker)
app.add_typer(jobs_cli.app, name="jobs")
app.add_typer(ab_cli.app, name="ab")
app.add_typer(autopilot_cli.app, name="autopilot")
app.add_typer(scoring_cli.app, name="scoring")


@app.callback()
def root(
    ctx: typer.Context,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            envvar="PROMPTEVOLVE_DATABASE_URL",
            show_envvar=True,
            help="SQLAlchemy URL of the store (default: sqlite:///promptevolve.db in the working directory).",
        ),
    ] = None,
    actor: Annotated[
        str | None, typer.Option(envvar="PROMPTEVOLVE_ACTOR", help="Who is recorded in the audit log.")
    ] = None,
) -> None:
    state = state_of(ctx)
    state.database_url, state.actor = database_url, actor


def _migrated_store(ctx: typer.Context) -> Store:
    settings = state_of(ctx).settings()
    store = Store.from_settings(settings)
    before, head = schema_status(store)
    if before != head:
        upgrade(store)
        console.print(
            f"database {describe_url(settings.database_url)} migrated: {before or 'empty'} → {head}"
        )
    else:
        console.print(f"database {describe_url(settings.database_url)} is at schema {head}")
    return store


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Migrate the database to this version's schema (safe to run twice)."""
    _migrated_store(ctx).dispose()


@db_app.command("status")
def db_status(ctx: typer.Context) -> None:
    """Show the schema revision of the database and the one this version needs."""
    settings = state_of(ctx).settings()
    store = Store.from_settings(settings)
    current, head = schema_status(store)
    store.dispose()
    state = "up to date" if current == head else "needs `promptevolve db upgrade`"
    console.print(
        f"{describe_url(settings.database_url)}: schema {current or 'none'}, needs {head} ({state})"
    )


@db_app.command("backup")
def db_backup(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="The backup file to write (must not exist yet).")],
) -> None:
    """Write a consistent backup of the database while it runs.

    SQLite: the online backup API (the file is itself a SQLite database). PostgreSQL: pg_dump's custom
    format of promptevolve's schema (needs pg_dump on PATH).
    """
    settings = state_of(ctx).settings()
    info = backup(settings.database_url, path)
    console.print(
        f"backed up {describe_url(settings.database_url)} (schema {info.revision}) to {info.path} "
        f"({info.size:,} bytes)"
    )


@db_app.command("restore")
def db_restore(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="A file made by `promptevolve db backup`.")],
    replace: Annotated[
        bool, typer.Option("--replace", help="Overwrite a database that already holds promptevolve data.")
    ] = False,
) -> None:
    """Replace the database with a backup made by `db backup` (PostgreSQL: needs pg_restore on PATH)."""
    settings = state_of(ctx).settings()
    info = restore(settings.database_url, path, replace=replace)
    head = head_revision()
    then = "" if info.revision == head else f"; run `promptevolve db upgrade` to reach {head}"
    console.print(
        f"restored {describe_url(settings.database_url)} from {info.path} (schema {info.revision}){then}"
    )


@app.command("init")
def init(
    ctx: typer.Context,
    baselines: Annotated[bool, typer.Option(help="Register our first user's baseline prompts.")] = True,
) -> None:
    """Create (or migrate) the database and register the baseline prompts."""
    store = _migrated_store(ctx)
    try:
        registry = compose(store, actor=state_of(ctx).actor).registry
        if not baselines:
            return
        table = Table(title="Baseline prompts")
        for col in ("prompt", "version", "kind", "state", "variables", ""):
            table.add_column(col)
        for variant, created in install_baselines(registry):
            state = f"active {variant.share:g} %" if variant.active else "inactive"
            table.add_row(
                variant.prompt,
                variant.version,
                variant.kind.value,
                state,
                ", ".join(variant.variables),
                "registered" if created else "already there",
            )
        console.print(table)
        console.print(
            "next: [bold]promptevolve prompt show ai_enrichment_en[/] · "
            "[bold]promptevolve prompt list[/] · [bold]promptevolve prompt history ai_enrichment_fr[/]"
        )
    finally:
        store.dispose()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
