"""`promptevolve evolve NAME` and `promptevolve eval NAME@VERSION`: evolution and offline evaluation."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from promptevolve.cli.common import JsonOpt, console, context_store, print_json, state_of
from promptevolve.compose import compose
from promptevolve.core.errors import ValidationError
from promptevolve.core.settings import Settings
from promptevolve.evolution.budget import Spend
from promptevolve.evolution.items import item_rows
from promptevolve.evolution.search import Progress as SearchProgress
from promptevolve.evolution.service import EvalReport, EvolutionReport, EvolutionService, EvolveRequest
from promptevolve.evolution.strategies import CLASSIFICATION_STRATEGIES, DEFAULT_STRATEGIES
from promptevolve.store.engine import Store

__all__ = ["eval_", "evolve", "print_report"]


def _evolution(store: Store, settings: Settings, ctx: typer.Context) -> EvolutionService:
    return compose(store, actor=state_of(ctx).actor, default_provider=settings.default_provider).evolution


def _split_ref(ref: str) -> tuple[str, str | None]:
    name, sep, version = ref.partition("@")
    if not name or (sep and not version):
        raise ValidationError(f"bad prompt reference {ref!r}: use NAME or NAME@VERSION")
    return name, version or None


def evaluator_options(pairs: list[str] | None) -> dict[str, Any]:
    """``KEY=VALUE`` pairs: a value that parses as JSON is JSON (``contains=true``, ``labels=["a b","c"]``),
    one with commas a list of strings (``labels=0,1``), anything else a string."""
    options: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise ValidationError(f"bad --evaluator-option {pair!r}: use KEY=VALUE, e.g. labels=0,1")
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = [part.strip() for part in raw.split(",")] if "," in raw else raw
        options[key] = value
    return options


def _check_items_out(path: Path | None) -> None:
    """Refuse an ``--items-out`` that cannot be written before any model call, not after the run."""
    if path is not None and not path.parent.is_dir():
        raise ValidationError(
            f"cannot write --items-out {str(path)!r}: folder {str(path.parent)!r} does not exist"
        )


def _write_items(path: Path | None, rows: list[dict[str, Any]]) -> None:
    if path is None:
        return
    try:
        with path.open("w", encoding="utf-8") as out:
            for row in rows:
                out.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
    except OSError as exc:
        raise ValidationError(f"cannot write --items-out {str(path)!r}: {exc.strerror or exc}") from None
    console.print(f"{len(rows)} per-item results written to {path}")


EvaluatorOptionOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--evaluator-option",
        "-E",
        help="Evaluator option KEY=VALUE (repeatable): labels=0,1  contains=true  abs_tol=0.5.",
    ),
]
ItemsOutOpt = Annotated[
    Path | None,
    typer.Option(
        "--items-out", help="Write per-item results (input, expected, output, score, parsed) as JSONL."
    ),
]


def evolve(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Prompt to evolve: NAME or NAME@VERSION (default: serving).")],
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="Dataset to learn and judge on.")],
    budget: Annotated[
        int,
        typer.Option(
            min=1, help="Optimization calls (proposals, train, validation); the gate's test calls are apart."
        ),
    ],
    strategies: Annotated[
        list[str] | None,
        typer.Option(
            "--strategies",
            "-s",
            help=f"Strategies (repeatable). Default: {', '.join(CLASSIFICATION_STRATEGIES)} when the "
            f"evaluator has labels (a classification), else {', '.join(DEFAULT_STRATEGIES)}.",
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed: the same seed and model repeat the run.")] = 0,
    from_feedback: Annotated[
        bool, typer.Option("--from-feedback", help="(Re)build the dataset from production feedback first.")
    ] = False,
    max_tokens: Annotated[int | None, typer.Option(help="Token budget (prompt + completion).")] = None,
    evaluator: Annotated[str | None, typer.Option(help="Evaluator; default: the dataset's.")] = None,
    evaluator_option: EvaluatorOptionOpt = None,
    proposer: Annotated[
        str | None, typer.Option(help="Provider that writes candidates; default: same.")
    ] = None,
    max_items: Annotated[int | None, typer.Option(help="At most this many items per split.")] = None,
    test_items: Annotated[
        int | None, typer.Option(help="The gate uses a seeded sample of this many test items.")
    ] = None,
    test_budget: Annotated[
        int | None, typer.Option(help="Calls the gate's test stage may spend (refused up front if short).")
    ] = None,
    minibatch: Annotated[int, typer.Option(min=1, help="Train items of the first rung.")] = 6,
    auto_ab: Annotated[
        bool, typer.Option("--auto-ab", help="Start an A/B test if the candidate passes the held-out gate.")
    ] = False,
    items_out: ItemsOutOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Evolve a prompt: propose variants, score them on the dataset within the budget, gate on test."""
    prompt, version = _split_ref(name)
    _check_items_out(items_out)
    request = EvolveRequest(
        prompt=prompt,
        version=version,
        dataset=dataset,
        budget=budget,
        max_tokens=max_tokens,
        strategies=list(strategies) if strategies else None,
        seed=seed,
        from_feedback=from_feedback,
        evaluator=evaluator,
        evaluator_options=evaluator_options(evaluator_option),
        proposer=proposer,
        max_items=max_items,
        test_items=test_items,
        test_budget=test_budget,
        minibatch=minibatch,
        auto_ab=auto_ab,
    )
    with context_store(ctx) as (store, settings), _progress(budget, quiet=as_json) as update:
        service = _evolution(store, settings, ctx)
        report = service.evolve(request, on_progress=update)
    if as_json:
        print_json(_report_json(report))
    else:
        print_report(report)
    _write_items(items_out, _evolve_rows(report))


def _evolve_rows(report: EvolutionReport) -> list[dict[str, Any]]:
    test = report.result.test
    rows = item_rows("parent", test.examples, test.parent) + item_rows(
        "candidate", test.examples, test.winner
    )
    for baseline in test.baselines:
        rows += item_rows(baseline.name, test.examples, baseline.results)
    return rows


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

    def __enter__(self) -> Callable[[SearchProgress], None]:
        if not self._quiet:
            self._bar.start()
        return self.update

    def __exit__(self, *exc: object) -> None:
        if not self._quiet:
            self._bar.stop()

    def update(self, event: SearchProgress) -> None:
        best = "—" if event.best is None else f"{event.best:.3f}"
        info = f"{event.candidates} candidates, best train {best}"
        self._bar.update(
            self._task, completed=event.calls, total=event.max_calls, stage=event.stage, info=info
        )


def _score(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _validation(value: float | None, items: int) -> str:
    return "—" if value is None else f"{value:.3f} ({items})"


def print_report(report: EvolutionReport) -> None:
    result = report.result
    table = Table(title=f"Candidates for {report.parent.ref} on {report.dataset} ({report.evaluator})")
    for col in ("strategy", "rung", "train items", "train", "validation (items)", "chars", "rationale"):
        table.add_column(col, overflow="fold")
    table.add_row(
        "(parent)",
        "",
        "",
        "",
        _validation(result.parent_validation, result.parent_validation_items),
        str(result.parent.chars),
        report.parent.rationale or "",
    )
    for c in result.candidates:
        mark = " ★" if result.winner is not None and c.candidate.key == result.winner.key else ""
        table.add_row(
            c.candidate.strategy + mark,
            str(c.rung),
            str(c.train_items),
            f"{c.train_score:.3f}",
            _validation(c.validation_score, c.validation_items),
            str(c.candidate.chars),
            escape(c.candidate.rationale[:90]),
        )
    console.print(table)
    console.print(
        "train and validation are raw means on the same items for every row (validation on successive "
        "rungs: a prompt clearly below the best stops early, on fewer items); the winner was chosen on "
        "validation minus the length penalty"
    )
    console.print(_spend_line(report))
    console.print(
        f"proposals unusable: {len(result.unusable)}, candidates refused by checks: {len(result.invalid)}"
    )
    _print_test(report)
    if report.auto_ab_note:
        console.print(report.auto_ab_note)


def _spend_line(report: EvolutionReport) -> str:
    spend: Spend = report.optimization_spend
    result = report.result
    line = (
        f"optimization: {spend.calls} of {report.budget_calls} budgeted calls ({spend.proposal_calls} "
        f"proposals, {spend.train_calls} train, {spend.validation_calls} validation), {spend.tokens} tokens; "
    )
    test = report.test_spend
    if result.test.examples:
        line += f"test: {test.calls} calls on {len(result.test.examples)} items, {test.tokens} tokens; "
    return line + f"{result.wall_seconds:.1f} s, {result.generations} generations, stopped: {result.stopped}"


_VERDICTS = {
    "passed": "passed the gate",
    "format_only": "repairs the format only: it does not beat the trivial baseline (not an improvement)",
    "rejected": "did not pass the gate",
    "untested": "untested (the test stage could not finish)",
}


def _print_test(report: EvolutionReport) -> None:
    test = report.result.test
    if test.parent_gate is not None and report.result.gate is not None:
        g, p = report.result.gate, test.parent_gate
        table = Table(title=f"Test ({len(test.examples)} items, 95 % intervals)")
        for col in ("prompt", "score", "interval"):
            table.add_column(col)
        table.add_row("parent", f"{p.parent.mean:.3f}", f"[{p.parent.low:.3f}, {p.parent.high:.3f}]")
        for baseline in test.baselines:
            table.add_row(escape(f"{baseline.name}: {baseline.detail}"), f"{baseline.mean:.3f}", "")
        table.add_row("candidate", f"{p.child.mean:.3f}", f"[{p.child.low:.3f}, {p.child.high:.3f}]")
        console.print(table)
        console.print(escape(f"over the parent: {p.reason}"))
        if test.reference != "parent":
            console.print(escape(f"gate (the stronger reference is the {test.reference}): {g.reason}"))
    if report.child is not None:
        console.print(
            f"registered [bold]{report.child.ref}[/] (evolved, inactive): "
            f"{_VERDICTS.get(report.status, report.status)}"
        )
    else:
        console.print("no candidate beat the parent on validation: nothing registered")


def _report_json(report: EvolutionReport) -> dict[str, object]:
    result = report.result
    return {
        "run_id": report.run_id,
        "parent": report.parent.ref,
        "child": report.child.ref if report.child else None,
        "status": report.status,
        "dataset": report.dataset,
        "evaluator": report.evaluator,
        "budget_calls": report.budget_calls,
        "calls": result.spend.calls,
        "tokens": result.spend.tokens,
        "proposal_calls": result.spend.proposal_calls,
        "evaluation_calls": result.spend.evaluation_calls,
        "train_calls": result.spend.train_calls,
        "validation_calls": result.spend.validation_calls,
        "test_calls": result.test.spend.calls,
        "test_tokens": result.test.spend.tokens,
        "unusable_proposals": len(result.unusable),
        "invalid_candidates": len(result.invalid),
        "generations": result.generations,
        "stopped": result.stopped,
        "wall_seconds": round(result.wall_seconds, 2),
        "parent_validation": result.parent_validation,
        "parent_validation_items": result.parent_validation_items,
        "test": _test_json(report),
        "candidates": [
            {
                "key": c.candidate.key,
                "strategy": c.candidate.strategy,
                "rung": c.rung,
                "train_items": c.train_items,
                "train_score": c.train_score,
                "validation_score": c.validation_score,
                "validation_penalised": c.validation_penalised,
                "validation_items": c.validation_items,
                "chars": c.candidate.chars,
                "winner": result.winner is not None and c.candidate.key == result.winner.key,
                "rationale": c.candidate.rationale,
            }
            for c in result.candidates
        ],
        "experiment_id": report.experiment_id,
        "auto_ab": report.auto_ab_note,
    }


def _test_json(report: EvolutionReport) -> dict[str, object] | None:
    test, g, p = report.result.test, report.result.gate, report.result.test.parent_gate
    if g is None or p is None:
        return None
    return {
        "items": len(test.examples),
        "parent": [p.parent.mean, p.parent.low, p.parent.high],
        "candidate": [p.child.mean, p.child.low, p.child.high],
        "improvement": [p.improvement.mean, p.improvement.low, p.improvement.high],
        "baselines": [{"name": b.name, "detail": b.detail, "score": b.mean} for b in test.baselines],
        "reference": test.reference,
        "improvement_over_reference": [g.improvement.mean, g.improvement.low, g.improvement.high],
        "passed": g.passed,
        "verdict": test.verdict,
    }


def eval_(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="NAME@VERSION (or NAME for the serving variant).")],
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="Dataset to evaluate on.")],
    split: Annotated[str, typer.Option(help="train, validation or test.")] = "test",
    evaluator: Annotated[str | None, typer.Option(help="Evaluator; default: the dataset's.")] = None,
    evaluator_option: EvaluatorOptionOpt = None,
    max_items: Annotated[int | None, typer.Option(help="At most this many items.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap interval.")] = 0,
    constrained: Annotated[
        bool,
        typer.Option(
            "--constrained/--no-constrained",
            help="With labels, also run the variant constrained to them (one more call per item).",
        ),
    ] = True,
    items_out: ItemsOutOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Evaluate one variant on a dataset split: mean and 95 % interval beside the trivial baselines."""
    prompt, version = _split_ref(ref)
    _check_items_out(items_out)
    with context_store(ctx) as (store, settings):
        report = _evolution(store, settings, ctx).evaluate(
            prompt,
            version,
            dataset=dataset,
            split=split,
            evaluator=evaluator,
            evaluator_options=evaluator_options(evaluator_option),
            max_items=max_items,
            seed=seed,
            constrained=constrained,
        )
    rows = item_rows("variant", report.examples, report.results)
    for baseline in report.baselines:
        rows += item_rows(baseline.name, report.examples, baseline.results)
    if as_json:
        print_json(_eval_json(report))
        _write_items(items_out, rows)
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
    for baseline in report.baselines:
        console.print(escape(f"  baseline {baseline.name}: {baseline.mean:.3f} ({baseline.detail})"))
    if s is not None and report.baselines:
        best = max(report.baselines, key=lambda b: b.mean)
        if s.mean <= best.mean:
            console.print(f"[bold]not above the trivial baseline[/] ({best.name} {best.mean:.3f})")
    console.print(
        f"unparsable answers: {report.unparsable}, failed calls: {report.errors}; "
        f"{report.spend.calls} calls, "
        f"{report.spend.tokens} tokens, {report.wall_seconds:.1f} s"
    )
    _write_items(items_out, rows)


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
        "labels": list(report.labels) if report.labels else None,
        "baselines": [{"name": b.name, "detail": b.detail, "score": b.mean} for b in report.baselines],
        "calls": report.spend.calls,
        "tokens": report.spend.tokens,
        "wall_seconds": round(report.wall_seconds, 2),
    }
