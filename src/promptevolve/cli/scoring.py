"""`promptevolve scoring …`: show and change the weights of a prompt's composite score and its other
scoring fields (``ScoringConfig``, docs/scoring.md).

Thin, as ``autopilot policy`` is: ``show`` prints ``registry.scoring_of`` and ``set`` calls
``registry.update_scoring``, which merges the options given into the configuration in effect (weights
one by one, so ``--accuracy 0.5`` keeps the three others) and writes it in one audited change. A refused
command (a bad value, nothing to change, an unknown prompt) exits 2 in ``cli/common.py`` and writes
nothing. The library names a bad field by its path (``weights.accuracy``); ``_by_option`` names it by
the option that set it instead, so the message points at what the user typed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import pydantic
import typer

from promptevolve.cli.common import JsonOpt, console, context_store, print_json, state_of
from promptevolve.compose import compose
from promptevolve.core.errors import ValidationError
from promptevolve.registry import PromptScoring, scoring_of, update_scoring
from promptevolve.scoring import COMPONENTS

__all__ = ["app"]

app = typer.Typer(
    help="The composite score of a prompt: its component weights, target latency and sources.",
    no_args_is_help=True,
)

PromptArg = Annotated[str, typer.Argument(help="Prompt name.")]

#: The option that sets each field (a field's path in ``ScoringConfig`` → the option).
_OPTIONS = {
    **{f"weights.{c}": f"--{c.replace('_', '-')}" for c in COMPONENTS},
    "weights": ", ".join(f"--{c.replace('_', '-')}" for c in COMPONENTS),
    "target_latency_ms": "--target-latency-ms",
    "accuracy_sources": "--accuracy-source",
    "consistency_metrics": "--consistency-metric",
    "min_coverage": "--min-coverage",
}


def _weight(help_text: str) -> Any:
    return typer.Option(help=f"{help_text} (any number ≥ 0; the composite divides by the weights' sum).")


@app.command("show")
def show(ctx: typer.Context, prompt: PromptArg, json_output: JsonOpt = False) -> None:
    """Show the scoring in effect: every field, defaults filled in, and whether it is stored."""
    with context_store(ctx) as (store, _):
        scoring = scoring_of(compose(store, actor=state_of(ctx).actor).registry, prompt)
    _print(scoring, "scoring", json_output)


@app.command("set")
def set_(
    ctx: typer.Context,
    prompt: PromptArg,
    accuracy: Annotated[float | None, _weight("Weight of accuracy")] = None,
    response_time: Annotated[float | None, _weight("Weight of response time")] = None,
    consistency: Annotated[float | None, _weight("Weight of consistency")] = None,
    satisfaction: Annotated[float | None, _weight("Weight of satisfaction")] = None,
    target_latency_ms: Annotated[
        float | None, typer.Option(help="Latency (ms) at or under which response time scores 1.")
    ] = None,
    accuracy_source: Annotated[
        list[str] | None,
        typer.Option(help="evaluator, feedback, correction or thumbs; first present wins (repeatable)."),
    ] = None,
    consistency_metric: Annotated[
        list[str] | None, typer.Option(help="Score metric averaged into consistency (repeatable).")
    ] = None,
    min_coverage: Annotated[
        float | None, typer.Option(help="Measured weight share (0–1) below which a call gets no composite.")
    ] = None,
    json_output: JsonOpt = False,
) -> None:
    """Change the scoring: the options given merge into the stored one (or the defaults); audited.

    Experiments already created keep the copy they took; those created afterwards use the new one."""
    weights = _given(
        accuracy=accuracy, response_time=response_time, consistency=consistency, satisfaction=satisfaction
    )
    changes = _given(
        weights=weights or None,
        target_latency_ms=target_latency_ms,
        accuracy_sources=accuracy_source,
        consistency_metrics=consistency_metric,
        min_coverage=min_coverage,
    )
    if not changes:
        options = ", ".join(o for path, o in _OPTIONS.items() if path != "weights")
        raise ValidationError(f"nothing to change: give at least one of {options}")
    with context_store(ctx) as (store, _):
        registry = compose(store, actor=state_of(ctx).actor).registry
        try:
            scoring = update_scoring(registry, prompt, changes)
        except pydantic.ValidationError as exc:
            raise _by_option(prompt, exc) from None
    _print(scoring, "updated", json_output)


def _given(**values: Any) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def _by_option(prompt: str, exc: pydantic.ValidationError) -> ValidationError:
    """The library's refusal, each problem named by the option that set the field."""
    problems: dict[str, str] = {}
    for error in exc.errors():
        path = ".".join(str(p) for p in error["loc"] if not isinstance(p, int))
        # The first problem of each option: a bad list item also fails the list's length check after it.
        problems.setdefault(_OPTIONS.get(path, path), error["msg"].removeprefix("Value error, "))
    said = "; ".join(f"{option}: {msg}" for option, msg in problems.items())
    return ValidationError(f"scoring of {prompt!r} not changed: {said}")


def _print(scoring: PromptScoring, verb: str, json_output: bool) -> None:
    if json_output:
        print_json(scoring)
        return
    source = "stored" if scoring.stored else "the defaults: nothing stored"
    console.print(f"{scoring.prompt}: {verb} ({source})", highlight=False)
    config = scoring.config
    for line in _weight_lines(scoring):
        console.print(f"  {line}", highlight=False)
    fields: Mapping[str, Any] = {
        "target_latency_ms": f"{config.target_latency_ms:g}",
        "accuracy_sources": ", ".join(config.accuracy_sources),
        "consistency_metrics": ", ".join(config.consistency_metrics),
        "min_coverage": f"{config.min_coverage:g}",
    }
    for key, value in fields.items():
        console.print(f"  {key} = {value}", highlight=False)


def _weight_lines(scoring: PromptScoring) -> list[str]:
    weights = scoring.config.weights
    lines = [f"weights.{c} = {weights.of(c):g}" for c in COMPONENTS]
    if scoring.normalised:
        return [*lines, "weights sum to 1: the composite uses them as given"]
    shares = ", ".join(f"{c} {share:.1%}" for c, share in scoring.shares.items())
    return [*lines, f"weights sum to {scoring.weights_sum:g}, not 1: normalised by the composite to {shares}"]
