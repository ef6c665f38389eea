"""`promptevolve ab …`: A/B experiments and bandits between variants of a prompt.

Thin: every command calls ``ExperimentService`` once and prints its answer (a Rich table, or JSON with
``--json``). Errors are the library's and are mapped to exit code 2 in ``cli/common.py``; a refused
command writes nothing.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from promptevolve.cli.common import JsonOpt, console, context_store, print_json, state_of
from promptevolve.compose import compose
from promptevolve.core.errors import ValidationError
from promptevolve.experiments import (
    DEFAULT_GUARDRAILS,
    AnalysisResult,
    ExperimentCreate,
    ExperimentInfo,
    ExperimentService,
    GuardrailSpec,
)
from promptevolve.experiments.report_page import report_html
from promptevolve.store.engine import Store

app = typer.Typer(
    help="A/B tests and bandits between prompt variants: create, start, watch, promote or roll back.",
    no_args_is_help=True,
)

IdArg = Annotated[int, typer.Argument(help="Experiment id (see `promptevolve ab status`).")]
ReasonOpt = Annotated[str | None, typer.Option(help="Why: recorded in the decision log.")]


def _service(store: Store, ctx: typer.Context) -> ExperimentService:
    return compose(store, actor=state_of(ctx).actor).experiments


def _parse_guardrail(raw: str) -> GuardrailSpec:
    metric, _, rest = raw.partition(":")
    tolerance, _, kind = rest.partition(":")
    if not metric or not tolerance or kind not in ("", "rel", "abs"):
        raise ValidationError(
            f"bad --guardrail {raw!r}: expected METRIC:TOLERANCE[:rel|abs], e.g. latency_ms:0.05"
        )
    try:
        value = float(tolerance)
    except ValueError:
        raise ValidationError(
            f"bad --guardrail {raw!r}: the tolerance {tolerance!r} is not a number"
        ) from None
    return GuardrailSpec(metric=metric, tolerance=value, relative=kind != "abs")


def _parse_ramp(raw: str) -> list[float]:
    if raw.strip().lower() in ("", "none", "off"):
        return []
    try:
        return [float(x) for x in raw.split(",")]
    except ValueError:
        raise ValidationError(
            f"bad --ramp {raw!r}: expected percents like 1,5,10,25,50,100 or 'none'"
        ) from None


def _num(value: float | None, relative: bool = False) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value * 100:+.2f} %" if relative else f"{value:+.4g}"


def _print_info(info: ExperimentInfo) -> None:
    shares = ", ".join(f"{a.arm} {a.version} {a.share:g} %" for a in info.arms)
    step = f", ramp step {info.ramp_step + 1} of {len(info.ramp)}" if info.ramp_step is not None else ""
    console.print(f"experiment [bold]{info.id}[/] ({info.prompt}) is [bold]{info.status}[/]{step}: {shares}")


def print_analysis(result: AnalysisResult) -> None:
    """The per-arm table, guardrails and verdict of an analysis (also used by `promptevolve demo`)."""
    e = result.experiment
    rel = e.relative
    table = Table(title=f"Experiment {e.id}: {e.name} — {e.metric} ({e.procedure}, alpha {e.alpha:g})")
    for col in ("arm", "version", "share", "units", "mean", "lift", "interval", "p / chance to win"):
        table.add_column(col, justify="left" if col in ("arm", "version") else "right")
    for a in result.arms:
        lift, evidence = a.lift, ""
        if lift is not None:
            evidence = (
                f"{lift.chance_to_win:.1%}" if lift.chance_to_win is not None else f"p = {lift.p_value:.3g}"
            )
        if a.probability_best is not None:
            evidence = f"P(best) {a.probability_best:.1%}"
        table.add_row(
            a.arm,
            a.version,
            f"{a.share:g} %",
            str(a.units),
            "–" if a.mean is None else f"{a.mean:.4g}",
            _num(lift.estimate, rel) if lift else "",
            f"[{_num(lift.ci_low, rel)}, {_num(lift.ci_high, rel)}]" if lift else "",
            evidence,
        )
    srm = (
        "n/a"
        if result.srm is None
        else f"p = {result.srm.p_value:.3g}{' (blocks)' if result.srm.blocks else ''}"
    )
    table.caption = f"SRM {srm} · minimum {e.min_sample} units per arm · MDE {_num(e.mde, rel).lstrip('+')}"
    console.print(table)
    harmed = [g for g in result.guardrails if g.harmed]
    for g in result.guardrails:
        tolerance = f"tolerance {_num(g.tolerance, g.relative).lstrip('+')}"
        if g.estimate is None:  # no calls measured yet on one side: say so, not "ok"
            console.print(f"guardrail {g.metric} ({g.arm}): not measured yet, {tolerance}", highlight=False)
            continue
        flag = "[bold red]harmed[/]" if g.harmed else "ok"
        interval = f"[{_num(g.ci_low, g.relative)}, {_num(g.ci_high, g.relative)}]"
        console.print(
            f"guardrail {g.metric} ({g.arm}): {_num(g.estimate, g.relative)} {interval}, {tolerance}: {flag}",
            highlight=False,
        )
    verb = "applied" if result.applied else ("would apply" if result.actions else "")
    actions = f" ({verb}: {', '.join(result.actions)})" if result.actions else ""
    style = "bold red" if harmed or result.verdict == "rolled_back" else "bold"
    console.print(f"[{style}]{result.verdict}[/]{actions}: {result.reason}", highlight=False)


@app.command("create")
def create(
    ctx: typer.Context,
    prompt: Annotated[str, typer.Argument(help="Prompt name.")],
    control: Annotated[str, typer.Option(help="Control version.")],
    treatment: Annotated[list[str], typer.Option(help="Treatment version (repeatable).")],
    share: Annotated[
        list[float] | None, typer.Option(help="Test share in percent per arm, control first (repeatable).")
    ] = None,
    metric: Annotated[str, typer.Option(help="Primary metric: composite, accuracy, thumbs, score:NAME…")] = (
        "composite"
    ),
    relative: Annotated[bool, typer.Option(help="Test the relative lift instead of the difference.")] = False,
    guardrail: Annotated[
        list[str] | None,
        typer.Option(
            help="METRIC:TOLERANCE[:rel|abs] (repeatable); default latency_ms, error_rate, cost_usd."
        ),
    ] = None,
    no_guardrails: Annotated[bool, typer.Option(help="Run without guardrails.")] = False,
    mode: Annotated[str, typer.Option(help="ab or bandit.")] = "ab",
    procedure: Annotated[str, typer.Option(help="sequential, msprt, fixed or bayesian.")] = "sequential",
    alpha: Annotated[float, typer.Option()] = 0.05,
    mde: Annotated[float, typer.Option(help="Minimum detectable effect, in lift units.")] = 0.05,
    power: Annotated[float, typer.Option()] = 0.8,
    min_sample: Annotated[int | None, typer.Option(help="Units per arm; default: power analysis.")] = None,
    ramp: Annotated[str, typer.Option(help="Ramp steps in percent, or 'none'.")] = "1,5,10,25,50,100",
    min_units_per_step: Annotated[int, typer.Option(help="Treatment units per ramp step.")] = 100,
    srm_grace: Annotated[
        float, typer.Option(help="Seconds after a share change left out of the sample-ratio check.")
    ] = 60.0,
    seed: Annotated[str | None, typer.Option(help="Routing seed; default random.")] = None,
    name: Annotated[str | None, typer.Option(help="A name for people.")] = None,
    start: Annotated[bool, typer.Option("--start", help="Start it at once.")] = False,
    json_output: JsonOpt = False,
) -> None:
    """Create an experiment (a draft until started): control and treatments, metric, guardrails, power."""
    guardrails = [] if no_guardrails else ([_parse_guardrail(g) for g in guardrail] if guardrail else None)
    request = ExperimentCreate(
        prompt=prompt,
        control=control,
        treatments=treatment,
        name=name,
        mode=mode,  # type: ignore[arg-type]
        shares=share or None,
        metric=metric,
        relative=relative,
        guardrails=list(DEFAULT_GUARDRAILS) if guardrails is None else guardrails,
        alpha=alpha,
        mde=mde,
        power=power,
        min_sample=min_sample,
        procedure=procedure,  # type: ignore[arg-type]
        seed=seed,
        ramp=_parse_ramp(ramp),
        min_units_per_step=min_units_per_step,
        srm_grace_s=srm_grace,
    )
    with context_store(ctx) as (store, _):
        service = _service(store, ctx)
        info = service.create_and_start(request) if start else service.create(request)
    if json_output:
        print_json(info)
        return
    console.print(f"created experiment [bold]{info.id}[/]: {info.name}")
    console.print(
        f"minimum sample: {info.min_sample} units per arm ({info.min_sample_source})", highlight=False
    )
    _print_info(info)


@app.command("start")
def start_cmd(ctx: typer.Context, experiment: IdArg, json_output: JsonOpt = False) -> None:
    """Start a draft (at the first ramp step) or resume a paused experiment."""
    with context_store(ctx) as (store, _):
        info = _service(store, ctx).start(experiment)
    print_json(info) if json_output else _print_info(info)


@app.command("pause")
def pause(ctx: typer.Context, experiment: IdArg, reason: ReasonOpt = None) -> None:
    """Stop routing for now; the registry serves as before. `ab start` resumes."""
    with context_store(ctx) as (store, _):
        _print_info(_service(store, ctx).pause(experiment, reason=reason))


@app.command("analyze")
def analyze(ctx: typer.Context, experiment: IdArg, json_output: JsonOpt = False) -> None:
    """Look at the data and apply the decision rule: ramp, winner, rollback… (safe to run often)."""
    with context_store(ctx) as (store, _):
        result = _service(store, ctx).analyze(experiment)
    print_json(result) if json_output else print_analysis(result)


@app.command("status")
def status(
    ctx: typer.Context,
    experiment: Annotated[int | None, typer.Argument(help="Experiment id; omit to list experiments.")] = None,
    prompt: Annotated[str | None, typer.Option(help="Only this prompt's experiments.")] = None,
    json_output: JsonOpt = False,
) -> None:
    """One experiment's figures now (nothing applied), or the list of experiments."""
    with context_store(ctx) as (store, _):
        service = _service(store, ctx)
        if experiment is not None:
            result = service.analyze(experiment, apply=False)
            print_json(result) if json_output else print_analysis(result)
            return
        infos = service.list(prompt)
    if json_output:
        print_json(infos)
        return
    table = Table(title="Experiments")
    for col in ("id", "prompt", "status", "mode", "metric", "arms", "winner"):
        table.add_column(col)
    for info in infos:
        arms = ", ".join(f"{a.version} {a.share:g} %" for a in info.arms)
        table.add_row(str(info.id), info.prompt, info.status, info.mode, info.metric, arms, info.winner or "")
    console.print(table)


@app.command("report")
def report(
    ctx: typer.Context,
    experiment: IdArg,
    html: Annotated[
        Path | None, typer.Option(help="Write a self-contained HTML report with the lift over time here.")
    ] = None,
    json_output: JsonOpt = False,
) -> None:
    """Per-arm table, guardrails and decision log; with --html, the chart of the lift interval over time."""
    with context_store(ctx) as (store, _):
        result = _service(store, ctx).report(experiment)
    if html is not None:
        html.write_text(report_html(result), encoding="utf-8")
    if json_output:
        print_json(result)
        return
    print_analysis(result.analysis)
    log = Table(title="Decision log")
    for col in ("at (UTC)", "action", "actor", "reason"):
        log.add_column(col)
    for d in result.decisions:
        log.add_row(d.at.strftime("%Y-%m-%d %H:%M:%S"), d.action, d.actor or "", d.reason)
    console.print(log)
    if html is not None:
        console.print(f"report written to {html}")


@app.command("stop")
def stop(ctx: typer.Context, experiment: IdArg, reason: ReasonOpt = None) -> None:
    """End the experiment without a winner; the registry keeps serving what it served before."""
    with context_store(ctx) as (store, _):
        _print_info(_service(store, ctx).stop(experiment, reason=reason))


@app.command("promote")
def promote(
    ctx: typer.Context,
    experiment: IdArg,
    arm: Annotated[str | None, typer.Option(help="Arm to promote; default the winner found.")] = None,
    reason: ReasonOpt = None,
) -> None:
    """Promote the winner (or --arm) now: it serves alone and becomes `production`."""
    with context_store(ctx) as (store, _):
        _print_info(_service(store, ctx).promote(experiment, arm=arm, reason=reason))


@app.command("rollback")
def rollback(ctx: typer.Context, experiment: IdArg, reason: ReasonOpt = None) -> None:
    """Serve the control alone again (also after a promotion) and end the experiment."""
    with context_store(ctx) as (store, _):
        _print_info(_service(store, ctx).rollback(experiment, reason=reason))
