"""`promptevolve autopilot …`: policies, passes (once for cron, or a loop), status, approvals.

Thin: every command calls the library (``promptevolve.autopilot``) and prints its answer. Errors are
mapped to exit code 2 in ``cli/common.py``; a refused command (bad policy value, unknown prompt, a
version that is not the candidate waiting) writes nothing.
"""

from __future__ import annotations

import logging
import re
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.table import Table

from promptevolve.autopilot import (
    Autopilot,
    PassReport,
    PromptStatus,
    autopilot_status,
    get_policy,
    load_autopilot_settings,
    remove_policy,
    update_policy,
)
from promptevolve.autopilot.outbox import counts as outbox_counts
from promptevolve.cli.common import JsonOpt, console, context_store, print_json, state_of
from promptevolve.cli.evolve import EvaluatorOptionOpt, evaluator_options
from promptevolve.compose import compose, compose_autopilot
from promptevolve.core.errors import ValidationError
from promptevolve.jobs import EmbeddedQueue, JobDeps, load_job_settings
from promptevolve.jobs.retention import Pruner
from promptevolve.jobs.webhooks import WebhookJob
from promptevolve.registry.service import default_actor
from promptevolve.store.engine import Store

app = typer.Typer(
    help="The autopilot: evolve, test and promote prompts by themselves, within policies and budgets.",
    no_args_is_help=True,
)

PromptArg = Annotated[str, typer.Argument(help="Prompt name.")]
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str, *, option: str | None = None) -> float:
    """``30s``, ``5m``, ``1h``, ``1d`` or seconds; the error names ``option`` when given."""
    match = _DURATION.match(text)
    if match is None or float(match.group(1)) <= 0:
        what = f"{option} " if option else ""
        raise ValidationError(
            f"bad {what}duration {text!r}: expected a positive number of s, m, h or d, e.g. 5m"
        )
    return float(match.group(1)) * _UNITS[match.group(2)]


def _guardrail(raw: str) -> dict[str, Any]:
    metric, _, rest = raw.partition(":")
    tolerance, _, kind = rest.partition(":")
    try:
        value = float(tolerance)
    except ValueError:
        value = -1.0
    if not metric or value < 0 or kind not in ("", "rel", "abs"):
        raise ValidationError(
            f"bad --guardrail {raw!r}: expected METRIC:TOLERANCE[:rel|abs], e.g. latency_ms:0.05"
        )
    return {"metric": metric, "tolerance": value, "relative": kind != "abs"}


def _ramp(raw: str) -> list[float]:
    if raw.strip().lower() in ("", "none", "off"):
        return []
    try:
        return [float(x) for x in raw.split(",")]
    except ValueError:
        raise ValidationError(
            f"bad --ramp {raw!r}: expected percents like 1,5,10,25,50,100 or 'none'"
        ) from None


def _optional_int(raw: str | None, option: str) -> int | str | None:
    """An integer, ``none`` (no limit) or not given (``...``: leave as is)."""
    if raw is None:
        return "..."
    if raw.strip().lower() in ("none", "off", "unlimited"):
        return None
    try:
        return int(raw)
    except ValueError:
        raise ValidationError(f"bad {option} {raw!r}: expected an integer or 'none'") from None


def _changes(**given: Any) -> dict[str, Any]:
    """The policy change from the options given (dotted names nest: ``evolution.min_feedback``)."""
    changes: dict[str, Any] = {}
    for dotted, value in given.items():
        if value is None or value == "...":
            continue
        target = changes
        *parents, leaf = dotted.split(".")
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = None if value == "<none>" else value
    return changes


def _none_marker(value: int | str | None) -> Any:
    return "<none>" if value is None else value


@app.command("policy")
def policy(
    ctx: typer.Context,
    prompt: PromptArg,
    autonomy: Annotated[str | None, typer.Option(help="observe, propose or autonomous.")] = None,
    min_feedback: Annotated[
        int | None, typer.Option(help="New feedback since the last round to evolve.")
    ] = None,
    daily_calls: Annotated[int | None, typer.Option(help="Evolution model calls per day.")] = None,
    daily_tokens: Annotated[str | None, typer.Option(help="Evolution tokens per day, or 'none'.")] = None,
    round_calls: Annotated[int | None, typer.Option(help="Model calls per evolution round at most.")] = None,
    quiet_hours: Annotated[
        str | None, typer.Option(help="No changes in this window, e.g. 22-06, or 'off'.")
    ] = None,
    timezone: Annotated[str | None, typer.Option(help="Time zone of quiet hours and budget days.")] = None,
    strategy: Annotated[list[str] | None, typer.Option(help="Evolution strategy (repeatable).")] = None,
    dataset: Annotated[
        str | None, typer.Option(help="Evolve on this dataset instead of production feedback.")
    ] = None,
    evaluator: Annotated[str | None, typer.Option(help="Evaluator of the evolution dataset.")] = None,
    evaluator_option: EvaluatorOptionOpt = None,
    max_items: Annotated[int | None, typer.Option(help="Items per split at most in a round.")] = None,
    metric: Annotated[str | None, typer.Option(help="Primary metric of the A/B tests it starts.")] = None,
    guardrail: Annotated[
        list[str] | None, typer.Option(help="METRIC:TOLERANCE[:rel|abs] for its A/B tests (repeatable).")
    ] = None,
    alpha: Annotated[float | None, typer.Option(help="Alpha of its A/B tests.")] = None,
    mde: Annotated[float | None, typer.Option(help="Minimum detectable effect of its A/B tests.")] = None,
    min_sample: Annotated[int | None, typer.Option(help="Units per arm before a decision.")] = None,
    ramp: Annotated[str | None, typer.Option(help="Ramp steps in percent, or 'none'.")] = None,
    min_units_per_step: Annotated[int | None, typer.Option(help="Treatment units per ramp step.")] = None,
    drift: Annotated[bool | None, typer.Option("--drift/--no-drift", help="Watch for drops.")] = None,
    rollback_drop: Annotated[
        str | None, typer.Option(help="Composite drop that rolls back (autonomous), or 'none'.")
    ] = None,
    webhook_url: Annotated[str | None, typer.Option(help="Webhook for this prompt's decisions.")] = None,
    enabled: Annotated[
        bool | None, typer.Option("--enable/--disable", help="Turn the policy on or off.")
    ] = None,
    remove: Annotated[
        bool, typer.Option("--remove", help="Take the prompt away from the autopilot.")
    ] = False,
    json_output: JsonOpt = False,
) -> None:
    """Show or change a prompt's policy; options not given keep their value (the change is audited)."""
    drop: Any = None
    if rollback_drop is not None:
        drop = (
            "<none>"
            if rollback_drop.strip().lower() in ("none", "off")
            else _float(rollback_drop, "--rollback-drop")
        )
    changes = _changes(
        **{
            "autonomy": autonomy,
            "enabled": enabled,
            "daily_calls": daily_calls,
            "daily_tokens": _none_marker(_optional_int(daily_tokens, "--daily-tokens")),
            "quiet_hours": quiet_hours,
            "timezone": timezone,
            "webhook_url": webhook_url,
            "evolution.min_feedback": min_feedback,
            "evolution.round_calls": round_calls,
            "evolution.strategies": strategy or None,
            "evolution.dataset": dataset,
            "evolution.evaluator": evaluator,
            "evolution.evaluator_options": evaluator_options(evaluator_option) if evaluator_option else None,
            "evolution.max_items": max_items,
            "experiment.metric": metric,
            "experiment.guardrails": [_guardrail(g) for g in guardrail] if guardrail else None,
            "experiment.alpha": alpha,
            "experiment.mde": mde,
            "experiment.min_sample": min_sample,
            "experiment.ramp": _ramp(ramp) if ramp is not None else None,
            "experiment.min_units_per_step": min_units_per_step,
            "drift.enabled": drift,
            "drift.rollback_drop": drop,
        }
    )
    with context_store(ctx) as (store, _):
        registry = compose(store, actor=state_of(ctx).actor).registry
        if remove:
            remove_policy(registry, prompt)
            console.print(f"{prompt}: autopilot policy removed")
            return
        current = update_policy(registry, prompt, changes) if changes else get_policy(registry, prompt)
    if json_output:
        print_json(current.to_config() if current else None)
        return
    if current is None:
        console.print(f"{prompt} has no autopilot policy: give options, e.g. --autonomy observe")
        return
    verb = "updated" if changes else "policy"
    console.print(f"{prompt}: {verb}", highlight=False)
    _print_policy(current.to_config())


def _float(raw: str, option: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise ValidationError(f"bad {option} {raw!r}: expected a number or 'none'") from None


def _print_policy(doc: dict[str, Any], prefix: str = "") -> None:
    for key, value in doc.items():
        if isinstance(value, dict):
            _print_policy(value, f"{prefix}{key}.")
        else:
            console.print(f"  {prefix}{key} = {value}", highlight=False)


@app.command("run")
def run(
    ctx: typer.Context,
    once: Annotated[
        bool, typer.Option("--once", help="One pass over every prompt with a policy (cron).")
    ] = False,
    prompt: Annotated[list[str] | None, typer.Option(help="Only these prompts (repeatable).")] = None,
    json_output: JsonOpt = False,
) -> None:
    """One pass: analyse experiments, ramp or roll back, promote, evolve within budget, start a test."""
    if not once:
        raise ValidationError(
            "give --once for one pass (cron), or use `promptevolve autopilot serve` for a loop"
        )
    with context_store(ctx) as (store, _), _pilot(store, state_of(ctx).actor or "autopilot") as pilot:
        report = pilot.run_once(prompts=prompt or None)
        report = report.model_copy(update={"notifications_pending": _deliver(pilot, store)})
    print_json(report) if json_output else _print_pass(report)


@contextmanager
def _pilot(store: Store, actor: str) -> Iterator[Autopilot]:
    """An autopilot whose webhook events go to the outbox, delivered by a runner of this process that
    takes webhook jobs only (what an earlier, interrupted run left is delivered too). The runner prunes
    old jobs as a server would (``PROMPTEVOLVE_JOBS_RETENTION_DAYS``): ``autopilot serve`` may be the
    only long-running process of a deployment."""
    settings = load_autopilot_settings()
    pruner = Pruner.from_settings(store, load_job_settings())
    runner = EmbeddedQueue(
        JobDeps(store=store, autopilot=settings), kinds={"webhook": WebhookJob()}, pruner=pruner
    )
    runner.start()
    try:
        yield compose_autopilot(compose(store, actor=actor), settings=settings, notifier=runner.outbox())
    finally:
        runner.close()


def _deliver(pilot: Autopilot, store: Store) -> int:
    """Wait up to ``drain_s`` for the outbox to empty; the deliveries still pending (they stay stored:
    the next run, a server or a worker delivers them)."""
    end = time.monotonic() + pilot.settings.drain_s
    while (pending := outbox_counts(store).get("pending", 0)) and time.monotonic() < end:
        time.sleep(0.05)
    return pending


@app.command("serve")
def serve(
    ctx: typer.Context,
    interval: Annotated[str, typer.Option(help="Time between passes: 30s, 5m, 1h.")] = "5m",
    max_passes: Annotated[int | None, typer.Option(help="Stop after this many passes.")] = None,
) -> None:
    """Run passes in a loop until SIGINT or SIGTERM (the current prompt finishes first)."""
    seconds = parse_duration(interval)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()

    def _stop(signum: int, _frame: object) -> None:
        console.print(f"signal {signal.Signals(signum).name}: finishing the current prompt, then stopping")
        stop.set()

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with context_store(ctx) as (store, _), _pilot(store, state_of(ctx).actor or "autopilot") as autopilot:
            console.print(f"autopilot {autopilot.holder}: a pass every {interval}")
            passes = autopilot.serve(
                interval_s=seconds, stop=stop, on_pass=_print_pass, max_passes=max_passes
            )
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    console.print(f"stopped after {passes} passes")


def _print_pass(report: PassReport) -> None:
    seconds = (report.finished_at - report.started_at).total_seconds()
    console.print(
        f"pass by {report.holder}: {len(report.prompts)} prompts in {seconds:.1f}s", highlight=False
    )
    for result in report.prompts:
        if result.outcome != "done" or not result.steps:
            extra = f" (held by {result.lease_holder})" if result.lease_holder else ""
            extra += f": {result.error}" if result.error else ""
            console.print(f"  {result.prompt}: {result.outcome}{extra}", highlight=False)
        for step in result.steps:
            mark = "" if step.logged else " (unchanged, not logged again)"
            console.print(f"  {result.prompt}: [bold]{step.action}[/]{mark}: {step.reason}", highlight=False)
    if report.notifications_pending:
        console.print(f"  {report.notifications_pending} webhook deliveries still pending", highlight=False)


@app.command("status")
def status(
    ctx: typer.Context,
    prompt: Annotated[
        list[str] | None, typer.Argument(help="Prompts; default every one with a policy.")
    ] = None,
    last: Annotated[int, typer.Option(help="Last decisions shown per prompt.")] = 5,
    json_output: JsonOpt = False,
) -> None:
    """Per prompt: policy, current step, budget left today, drift detector, last decisions."""
    with context_store(ctx) as (store, _):
        result = autopilot_status(store, prompts=prompt or None, last=last)
    if json_output:
        print_json(result)
        return
    if not result.prompts:
        console.print(
            "no prompt has an autopilot policy: `promptevolve autopilot policy NAME --autonomy observe`"
        )
    for item in result.prompts:
        _print_status(item)


def _print_status(item: PromptStatus) -> None:
    table = Table(title=f"{item.prompt}: {item.step}", show_header=False)
    table.add_column("", style="bold")
    table.add_column("")
    table.add_row("now", item.detail)
    table.add_row("serving", item.serving or "–")
    if item.policy is not None:
        p = item.policy
        quiet = f", quiet {p.quiet_hours} {p.timezone}" if p.quiet_hours else ""
        table.add_row("policy", f"{p.autonomy.value}{'' if p.enabled else ' (disabled)'}{quiet}")
    if item.budget is not None:
        b = item.budget
        tokens = "" if b.tokens_limit is None else f", tokens {b.tokens_used}/{b.tokens_limit}"
        table.add_row(
            "budget today", f"calls {b.calls_used}/{b.calls_limit}{tokens}, {b.calls_left} calls left"
        )
    if item.drift is not None and item.drift.enabled:
        drift = item.drift
        ref = ", ".join(f"{k} {v:.0%}" for k, v in drift.reference_progress.items())
        alarm = f"; pending alarm on {drift.pending_alarm['metric']}" if drift.pending_alarm else ""
        table.add_row("drift", f"reference {ref}; batches watched {drift.monitored_batches}{alarm}")
    if item.lease is not None:
        table.add_row("lease", f"{item.lease.holder} ({item.lease.phase}), {item.lease.expires_in_s:g}s left")
    for d in item.last_actions:
        table.add_row(d.at.strftime("%Y-%m-%d %H:%M"), f"{d.action}: {d.reason}")
    console.print(table)


@app.command("approve")
def approve(ctx: typer.Context, prompt: PromptArg, version: Annotated[str, typer.Argument()]) -> None:
    """Approve a candidate that passed the gate (propose): its A/B test starts now or at the next pass."""
    actor = state_of(ctx).actor or default_actor()
    with context_store(ctx) as (store, _), _pilot(store, actor) as pilot:
        step = pilot.approve(prompt, version, actor=actor)
        _deliver(pilot, store)
    console.print(f"{prompt}@{version}: {step.action}: {step.reason}", highlight=False)


@app.command("reject")
def reject(
    ctx: typer.Context,
    prompt: PromptArg,
    version: Annotated[str, typer.Argument()],
    reason: Annotated[str | None, typer.Option(help="Why: recorded in the decision log.")] = None,
) -> None:
    """Set a candidate aside; the autopilot evolves again when new feedback comes."""
    actor = state_of(ctx).actor or default_actor()
    with context_store(ctx) as (store, _):
        compose_autopilot(compose(store, actor="autopilot")).reject(
            prompt, version, actor=actor, reason=reason
        )
    console.print(f"{prompt}@{version}: rejected")
