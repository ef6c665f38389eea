"""`promptevolve run`, `promptevolve feedback …` and `promptevolve executions …`: the call path."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from typer.core import TyperGroup

from promptevolve.cli.common import JsonOpt, console, print_json, state_of
from promptevolve.client import PromptOptimizer, RunResult
from promptevolve.core.errors import ValidationError
from promptevolve.core.inputs import parse_json, read_text_file
from promptevolve.core.storable import Repairs
from promptevolve.store.migrate import open_store
from promptevolve.tracking.executions import ExecutionFilter, get_execution, list_executions
from promptevolve.tracking.feedback_import import import_feedback

__all__ = ["executions_app", "feedback_app", "run"]


def _parse_vars(pairs: list[str] | None, vars_file: Path | None) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if vars_file is not None:
        loaded = parse_json(read_text_file(vars_file, "variables file"), f"variables file {vars_file}")
        if not isinstance(loaded, dict):
            raise ValidationError(f"variables file {vars_file} must hold a JSON object")
        values.update(loaded)
    for raw in pairs or []:
        key, sep, value = raw.partition("=")
        if not sep or not key:
            raise ValidationError(f"bad --var {raw!r}: expected NAME=VALUE")
        values[key] = value
    return values


def run(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Prompt name.")],
    var: Annotated[
        list[str] | None, typer.Option("--var", help="Template variable NAME=VALUE (repeatable).")
    ] = None,
    vars_file: Annotated[Path | None, typer.Option(help="JSON file with the variables.")] = None,
    unit: Annotated[str | None, typer.Option(help="Unit id (user, lead…) for sticky routing.")] = None,
    provider: Annotated[str | None, typer.Option(help="Provider to use when the variant names none.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Run a prompt through the registry: route, render, call the model, record the execution."""
    variables = _parse_vars(var, vars_file)
    settings = state_of(ctx).settings()
    with PromptOptimizer(settings=settings, default_provider=provider) as po:
        result = po.run(name, variables, unit_id=unit, strict=False)
        po.flush()
    # Printed as stored (core.storable): a terminal cannot write a lone surrogate a model may answer.
    result = RunResult.model_validate(Repairs().json("answer", result.model_dump())[0])
    if as_json:
        print_json(result)
    else:
        who = f"{name}@{result.version}" if result.version else f"{name} (caller's fallback)"
        console.print(
            f"[bold]{who}[/] · {result.status}"
            + (f" ({result.fallback_reason})" if result.fallback_reason else "")
            + f" · {result.latency_ms:.0f} ms · {result.prompt_tokens}+{result.completion_tokens} tokens"
            + (f" · arm {result.arm}" if result.arm else "")
        )
        if result.text is not None:
            console.print(result.text, markup=False)
        if result.parse_error:
            console.print(f"[yellow]output is not valid JSON:[/] {result.parse_error}")
        if result.execution_id:
            console.print(f"execution id: {result.execution_id}")
    if result.status == "error":
        raise ValidationError(f"no answer for {name!r}: {result.error}")


class _FeedbackGroup(TyperGroup):
    """`promptevolve feedback ID …` adds feedback; `promptevolve feedback import FILE` imports a file."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["add", *args]
        return super().parse_args(ctx, args)


feedback_app = typer.Typer(
    cls=_FeedbackGroup,
    no_args_is_help=True,
    help="Feedback on executions: `feedback ID --thumbs up`, or `feedback import FILE`.",
)
executions_app = typer.Typer(no_args_is_help=True, help="Recorded executions.")


@feedback_app.command("add")
def feedback_add(
    ctx: typer.Context,
    execution_id: Annotated[str, typer.Argument(help="The execution id printed by `run`.")],
    thumbs: Annotated[str | None, typer.Option(help="up or down.")] = None,
    rating: Annotated[int | None, typer.Option(min=1, max=5, help="1–5.")] = None,
    score: Annotated[float | None, typer.Option(min=0.0, max=1.0, help="0–1.")] = None,
    correction: Annotated[str | None, typer.Option(help="The right output (a gold label).")] = None,
    comment: Annotated[str | None, typer.Option()] = None,
    source: Annotated[str, typer.Option(help="user, evaluator or judge.")] = "user",
) -> None:
    """Attach feedback to an execution."""
    if thumbs is not None and thumbs not in ("up", "down"):
        raise ValidationError(f"--thumbs must be up or down, got {thumbs!r}")
    settings = state_of(ctx).settings()
    with PromptOptimizer(settings=settings) as po:
        ids = po.feedback(
            execution_id,
            thumbs=None if thumbs is None else thumbs == "up",
            rating=rating,
            score=score,
            correction=correction,
            comment=comment,
            source=source,
            created_by=settings.actor,
        )
    console.print(f"recorded {len(ids)} feedback item{'s' if len(ids) != 1 else ''} on {execution_id}")


@feedback_app.command("import")
def feedback_import(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="CSV or JSONL keyed by execution_id.")],
) -> None:
    """Import feedback from CSV or JSONL; bad rows are listed, good ones kept (exit 2 if any bad)."""
    store = open_store(state_of(ctx).settings())
    try:
        report = import_feedback(store, file)
    finally:
        store.dispose()
    console.print(f"imported {report.imported_rows} rows ({report.feedback_written} feedback items)")
    if report.already_imported:
        console.print(f"skipped {report.already_imported} rows already imported (same content)")
    if report.rejected:
        table = Table(title=f"{len(report.rejected)} rejected rows")
        table.add_column("line")
        table.add_column("reason")
        for line, reason in report.rejected:
            table.add_row(str(line), reason)
        console.print(table)
        raise ValidationError(
            f"{len(report.rejected)} rows of {file} were rejected (listed above); "
            f"the {report.imported_rows} good rows are stored"
        )


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    units = {"m": 60, "h": 3600, "d": 86400}
    if value[:-1].isdigit() and value[-1] in units:
        return datetime.now(UTC) - timedelta(seconds=int(value[:-1]) * units[value[-1]])
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationError(f"bad --since {value!r}: give e.g. 30m, 12h, 7d or an ISO date") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@executions_app.command("list")
def executions_list(
    ctx: typer.Context,
    prompt: Annotated[str | None, typer.Option(help="Only this prompt.")] = None,
    version: Annotated[str | None, typer.Option(help="Only this version.")] = None,
    status: Annotated[str | None, typer.Option(help="ok, fallback or error.")] = None,
    experiment: Annotated[int | None, typer.Option(help="Only this experiment id.")] = None,
    since: Annotated[str | None, typer.Option(help="e.g. 30m, 12h, 7d, or an ISO date.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 20,
    as_json: JsonOpt = False,
) -> None:
    """List recorded executions, newest first."""
    f = ExecutionFilter(
        prompt=prompt,
        version=version,
        status=status,  # type: ignore[arg-type]  # pydantic refuses anything but ok/fallback/error
        experiment_id=experiment,
        since=_since(since),
        limit=limit,
    )
    store = open_store(state_of(ctx).settings())
    try:
        rows = list_executions(store, f)
    finally:
        store.dispose()
    if as_json:
        print_json(rows)
        return
    table = Table(title="Executions")
    for col in (
        "when (UTC)",
        "id",
        "prompt",
        "version",
        "arm",
        "status",
        "ms",
        "tokens",
        "feedback",
        "output",
    ):
        table.add_column(col, overflow="fold" if col == "output" else "ellipsis")
    for e in rows:
        fb = ", ".join(f"{f.kind}={f.value:g}" if f.value is not None else f.kind for f in e.feedback)
        table.add_row(
            f"{e.at:%m-%d %H:%M:%S}",
            e.id,
            e.prompt or "",
            e.version or "",
            e.arm or "",
            e.status + (f" ({e.fallback_reason})" if e.fallback_reason else ""),
            f"{e.latency_ms:.0f}" if e.latency_ms is not None else "",
            f"{e.prompt_tokens or 0}+{e.completion_tokens or 0}",
            fb,
            (e.output or e.error_message or "")[:80].replace("\n", " "),
        )
    console.print(table)


@executions_app.command("show")
def executions_show(ctx: typer.Context, execution_id: str, as_json: JsonOpt = False) -> None:
    """Show one execution with its variables, output and feedback."""
    store = open_store(state_of(ctx).settings())
    try:
        e = get_execution(store, execution_id)
    finally:
        store.dispose()
    if as_json:
        print_json(e)
        return
    console.print_json(e.model_dump_json())
