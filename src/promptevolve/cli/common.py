"""What every command group shares: the console, error mapping, and opening the store.

Errors are mapped to exit codes in exactly one place (``ErrorMappingGroup``): any ``PromptevolveError``
or invalid input prints ``error: <message>`` on stderr and exits with 2; nothing else in the CLI catches
errors. Commands open the store through ``context_store`` so that the ``--database-url`` option and the
``PROMPTEVOLVE_*`` environment agree.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any

import pydantic
import typer
from rich.console import Console
from typer.core import TyperGroup

from promptevolve.core.errors import PromptevolveError
from promptevolve.core.settings import Settings, load_settings
from promptevolve.store.engine import Store
from promptevolve.store.migrate import open_store

__all__ = [
    "EXIT_USAGE",
    "CliState",
    "ErrorMappingGroup",
    "JsonOpt",
    "console",
    "context_store",
    "err_console",
    "print_json",
    "state_of",
]

EXIT_USAGE = 2

#: The ``--json`` flag of every command that can print for scripts.
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts instead of tables.")]


def _console(stderr: bool = False) -> Console:
    # Piped output (scripts, CI logs) gets a wide page instead of Rich's 80 columns, so names and
    # versions in tables are not cut.
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else 160
    return Console(stderr=stderr, highlight=False, width=width)


console = _console()
err_console = _console(stderr=True)


def _describe_validation(exc: pydantic.ValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(x) for x in error["loc"]) or "input"
        parts.append(f"{where}: {error['msg']}")
    return "invalid input: " + "; ".join(parts)


class ErrorMappingGroup(TyperGroup):
    """The root group: turns library errors into a clear message and exit code 2."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except PromptevolveError as exc:
            err_console.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False)
            raise SystemExit(EXIT_USAGE) from None
        except pydantic.ValidationError as exc:
            err_console.print(f"[bold red]error:[/] {_describe_validation(exc)}", markup=True)
            raise SystemExit(EXIT_USAGE) from None


@dataclass
class CliState:
    database_url: str | None = None
    actor: str | None = None

    def settings(self) -> Settings:
        return load_settings(database_url=self.database_url, actor=self.actor)


def state_of(ctx: typer.Context) -> CliState:
    root = ctx.find_root()
    if not isinstance(root.obj, CliState):
        root.obj = CliState()
    return root.obj


@contextmanager
def context_store(ctx: typer.Context) -> Iterator[tuple[Store, Settings]]:
    settings = state_of(ctx).settings()
    store = open_store(settings)
    try:
        yield store, settings
    finally:
        store.dispose()


def print_json(value: Any) -> None:
    """Machine-readable output: plain JSON on stdout, no colours or wrapping."""
    if isinstance(value, pydantic.BaseModel):
        value = value.model_dump(mode="json")
    elif isinstance(value, list):
        value = [v.model_dump(mode="json") if isinstance(v, pydantic.BaseModel) else v for v in value]
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False, default=str))
