"""`promptevolve evolve NAME` and `promptevolve eval NAME@VERSION`: evolution and offline evaluation."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from promptevolve.cli.common import JsonOpt, console, context_store, print_json, state_of
from promptevolve.core.errors import ValidationError
from promptevolve.evolution.search import Progress as SearchProgress
from promptevolve.evolution.service import EvalReport, EvolutionReport, EvolutionService, EvolveRequest
from promptevolve.evolution.strategies import DEFAULT_STRATEGIES

__all__ = ["eval_", "evolve"]


def _split_ref(ref: str) -> tuple[str, str | None]:
    name, sep, version = ref.partition("@")
    if not name or (sep and not version):
        raise ValidationError(f"bad prompt reference {ref!r}: use NAME or NAME@VERSION")
    return name, version or None


def evolve(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Prompt to evolve: NAME or NAME@VERSION (default: serving).")],
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="Dataset to learn and judge on.")],
    budget: Annotated[int, typer.Option(min=1, help="Model calls the run may spend, all included.")],
    strategies: Annotated[
        list[str] | None,
        typer.Option(
            "--strategies", "-s", help=f"Strategies (repeatable). Default: {', '.join(DEFAULT_STRATEGIES)}."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed: the same seed and model repeat the run.")] = 0,
    from_feedback: Annotated[
        bool, typer.Option("--from-feedback", help="(Re)build the dataset from production feedback first.")
    ] = False,
    max_tokens: Annotated[int | None, typer.Option(help="Token budget (prompt + completion).")] = None,
    evaluator: Annotated[str | None, typer.Option(help="Evaluator; default: the dataset's.")] = None,
    proposer: Annotated[
        str | None, typer.Option(help="Provider that writes candidates; default: same.")
    ] = None,
    max_items: Annotated[int | None, typer.Option(help="At most this many items per split.")] = None,
    minibatch: Annotated[int, typer.Option(min=1, help="Train items of the first rung.")] = 6,
    auto_ab: Annotated[
        bool, typer.Option("--auto-ab", help="Start an A/B test if the candidate passes the held-out gate.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Evolve a prompt: propose variants, score them on the dataset within the budget, gate on test."""
    prompt, version = _split_ref(name)
    request = EvolveRequest(
        prompt=prompt,
        version=version,
        dataset=dataset,
        budget=budget,
        max_tokens=max_tokens,
        strategies=list(strategies or DEFAULT_STRATEGIES),
        seed=seed,
        from_feedback=from_feedback,
        evaluator=evaluator,
        proposer=proposer,
        max_items=max_items,
        minibatch=minibatch,
        auto_ab=auto_ab,
    )
    with context_store(ctx) as (store, _), _progress(budget, quiet=as_json) as update:
        report = EvolutionService(store, actor=state_of(ctx).actor).evolve(request, on_progress=update)
    if as_json:
        print_json(_report_json(report))
        return
    _print_report(report)


class _progress:
    """A Rich progress bar over the budget's calls (or nothing, for --json)."""

    def __init__(self, total: int, *, quiet: bool) -> None:
        self._quiet = quiet
        self._bar = Progress(
            TextColumn("[bold]{task.fields[stage]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("calls · {task.fields[info]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._task = self._bar.add_task("evolve", total=total, stage="search", info="")

    def __enter__(self):  # type: ignore[no-untyped-def]
        if not self._quiet:
            self._bar.start()
        return self.update

    def __exit__(self, *exc: object) -> None:
        if not self._quiet:
            self._bar.stop()

    def update(self, event: SearchProgress) -> None:
        best = "—" if event.best is None else f"{event.best:.3f}"
        info = f"{event.candidates} candidates, best train {best}"
        self._bar.update(self._task, completed=event.calls, stage=event.stage, info=info)


def _print_report(report: EvolutionReport) -> None:
    result = report.result
    table = Table(title=f"Candidates for {report.parent.ref} on {report.dataset} ({report.evaluator})")
    for col in ("strategy", "rung", "train items", "train", "validation", "chars", "rationale"):
        table.add_column(col, overflow="fold")
    table.add_row(
        "(parent)",
        "",
        "",
        "",
        f"{result.parent_validation:.3f}" if result.parent_validation is not None else "—",
        str(result.parent.chars),
        report.parent.rationale or "",
    )
    validation = {f.candidate.key: f.validation_score for f in result.finalists}
    for c in result.candidates[:12]:
        mark = " ★" if result.winner is not None and c.candidate.key == result.winner.key else ""
        v = validation.get(c.candidate.key)
        table.add_row(
            c.candidate.strategy + mark,
            str(c.rung),
            str(c.train_items),
            f"{c.train_score:.3f}",
            "—" if v is None else f"{v:.3f}",
            str(c.candidate.chars),
            c.candidate.rationale[:90],
        )
    console.print(table)
    spend = result.spend
    console.print(
        f"spent {spend.calls}/{report.budget_calls} calls "
        f"({spend.proposal_calls} proposals, {spend.evaluation_calls} evaluations), {spend.tokens} tokens, "
        f"{result.wall_seconds:.1f} s; {result.generations} generations, stopped: {result.stopped}"
    )
    console.print(
        f"proposals unusable: {len(result.unusable)}, candidates refused by checks: {len(result.invalid)}"
    )
    if result.gate is not None:
        g = result.gate
        console.print(
            f"test: parent {g.parent.mean:.3f} [{g.parent.low:.3f}, {g.parent.high:.3f}] → candidate "
            f"{g.child.mean:.3f} [{g.child.low:.3f}, {g.child.high:.3f}]; {g.reason}"
        )
    if report.child is not None:
        verdict = {"passed": "passed the gate", "rejected": "did not pass the gate", "untested": "untested"}
        console.print(
            f"registered [bold]{report.child.ref}[/] (evolved, inactive): "
            f"{verdict.get(report.status, report.status)}"
        )
    else:
        console.print("no candidate beat the parent on validation: nothing registered")
    if report.auto_ab_note:
        console.print(report.auto_ab_note)


def _report_json(report: EvolutionReport) -> dict[str, object]:
    result = report.result
    g = result.gate
    return {
        "run_id": report.run_id,
        "parent": report.parent.ref,
        "child": report.child.ref if report.child else None,
        "status": report.status,
        "dataset": report.dataset,
        "evaluator": report.evaluator,
        "calls": result.spend.calls,
        "tokens": result.spend.tokens,
        "proposal_calls": result.spend.proposal_calls,
        "evaluation_calls": result.spend.evaluation_calls,
        "unusable_proposals": len(result.unusable),
        "invalid_candidates": len(result.invalid),
        "generations": result.generations,
        "stopped": result.stopped,
        "wall_seconds": round(result.wall_seconds, 2),
        "parent_validation": result.parent_validation,
        "test": None
        if g is None
        else {
            "parent": [g.parent.mean, g.parent.low, g.parent.high],
            "candidate": [g.child.mean, g.child.low, g.child.high],
            "improvement": [g.improvement.mean, g.improvement.low, g.improvement.high],
            "passed": g.passed,
            "items": g.improvement.n,
        },
        "candidates": [
            {
                "strategy": c.candidate.strategy,
                "rung": c.rung,
                "train_items": c.train_items,
                "train_score": c.train_score,
                "rationale": c.candidate.rationale,
            }
            for c in result.candidates
        ],
        "experiment_id": report.experiment_id,
        "auto_ab": report.auto_ab_note,
    }


def eval_(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="NAME@VERSION (or NAME for the serving variant).")],
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="Dataset to evaluate on.")],
    split: Annotated[str, typer.Option(help="train, validation or test.")] = "test",
    evaluator: Annotated[str | None, typer.Option(help="Evaluator; default: the dataset's.")] = None,
    max_items: Annotated[int | None, typer.Option(help="At most this many items.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap interval.")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Evaluate one variant on a dataset split: mean score with a 95 % bootstrap interval, per field."""
    prompt, version = _split_ref(ref)
    with context_store(ctx) as (store, _):
        report = EvolutionService(store, actor=state_of(ctx).actor).evaluate(
            prompt, version, dataset=dataset, split=split, evaluator=evaluator, max_items=max_items, seed=seed
        )
    if as_json:
        print_json(_eval_json(report))
        return
    s = report.score
    headline = "no items" if s is None else f"{s.mean:.3f} (95 % interval {s.low:.3f}–{s.high:.3f}, n={s.n})"
    console.print(
        f"[bold]{report.variant.ref}[/] on {report.dataset}/{report.split} ({report.evaluator}): {headline}"
    )
    if report.fields:
        table = Table(title="Per field")
        table.add_column("field")
        table.add_column("mean")
        for field, value in report.fields.items():
            table.add_row(field, f"{value:.3f}")
        console.print(table)
    console.print(
        f"unparsable answers: {report.unparsable}, failed calls: {report.errors}; "
        f"{report.spend.calls} calls, "
        f"{report.spend.tokens} tokens, {report.wall_seconds:.1f} s"
    )


def _eval_json(report: EvalReport) -> dict[str, object]:
    s = report.score
    return {
        "variant": report.variant.ref,
        "dataset": report.dataset,
        "split": report.split,
        "evaluator": report.evaluator,
        "score": None if s is None else {"mean": s.mean, "low": s.low, "high": s.high, "n": s.n},
        "fields": dict(report.fields),
        "unparsable": report.unparsable,
        "errors": report.errors,
        "calls": report.spend.calls,
        "tokens": report.spend.tokens,
        "wall_seconds": round(report.wall_seconds, 2),
    }
