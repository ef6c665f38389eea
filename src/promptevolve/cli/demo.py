"""`promptevolve demo`: the README's main job, the whole loop on the embedded defaults.

On the bundled example and the local model, through the same services a team would use:

1. create the database and register the two baselines;
2. enrich English and French example leads *through the registry* (routing, rendering, the model call,
   tracking) and give each execution the feedback a user would — graded against the lead's gold labels,
   and said so;
3. a short evolution round on the English prompt, on an explicit budget, gated on held-out leads
   against the parent and the trivial baselines;
4. an A/B test between the baseline and the evolved variant *only if the gate passed it* (otherwise the
   demo says why nothing goes to users), fed by more leads, with its report and what a decision needs;
5. one autopilot pass that acts and says why: it analyses the live A/B test, or runs its own small
   round on the French prompt and reports its verdict with the figures.

Every step prints what it did; the database stays behind for `promptevolve executions list`,
`promptevolve prompt lineage ai_enrichment_en`, `promptevolve ab status`, or the dashboard.
"""

from __future__ import annotations

import json
import time
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from promptevolve.cli.ab import print_analysis
from promptevolve.cli.common import console, state_of
from promptevolve.cli.evolve import print_report
from promptevolve.client import PromptOptimizer, RunResult
from promptevolve.compose import compose
from promptevolve.evolution.service import EvolutionReport
from promptevolve.examples.lead_enrichment.baselines import install_baselines
from promptevolve.examples.lead_enrichment.demo_round import quick_round
from promptevolve.examples.lead_enrichment.grading import grade
from promptevolve.experiments import ExperimentCreate
from promptevolve.experiments.report_page import report_html
from promptevolve.providers.local import default_model_path
from promptevolve.registry import VariantInfo
from promptevolve.store.migrate import schema_status, upgrade

__all__ = ["bundled_leads", "demo", "what_was_measured"]

PROMPTS = (("ai_enrichment_en", "en"), ("ai_enrichment_fr", "fr"))


def bundled_leads(locale: str | None = None) -> list[dict[str, Any]]:
    """The bundled example leads (English and French, with gold labels)."""
    path = files("promptevolve.examples.lead_enrichment") / "leads.jsonl"
    leads = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [lead for lead in leads if locale is None or lead["locale"] == locale]


def _step(n: int, title: str) -> None:
    console.rule(f"[bold]{n}. {title}")


def _serve_and_grade(po: PromptOptimizer, prompt: str, lead: dict[str, Any]) -> tuple[RunResult, dict | None]:
    """One production call and the feedback its "user" gives (graded against the gold labels)."""
    result = po.run(prompt, lead["inputs"], unit_id=lead["id"])
    grades = grade(result.parsed, lead["expected"]) if result.parsed is not None else None
    if result.execution_id and result.status != "error":
        overall = grades["overall"] if grades else 0.0
        po.feedback(
            result.execution_id,
            score=overall,
            thumbs=overall >= 0.5,
            comment="demo: graded against the bundled gold labels",
            source="evaluator",
        )
    return result, grades


def _cell(
    field: str, parsed: dict[str, Any], grades: dict[str, float] | None, expected: dict[str, Any]
) -> str:
    mark = "✓" if grades and grades[field] >= 1.0 else "✗"
    return f"{mark} {parsed.get(field, '—')} ({expected[field]})"


def _enrich(po: PromptOptimizer, per_language: int) -> None:
    table = Table(title="Enrichments by the local model, through the registry (gold label in brackets)")
    for col in ("lead", "company", "version", "status", "time", "tokens", "industry", "size band", "grade"):
        table.add_column(col)
    for prompt, locale in PROMPTS:
        for lead in bundled_leads(locale)[:per_language]:
            with console.status(f"{prompt}: {lead['inputs']['company_name']}…"):
                result, grades = _serve_and_grade(po, prompt, lead)
            parsed = result.parsed if isinstance(result.parsed, dict) else {}

            table.add_row(
                lead["id"],
                lead["inputs"]["company_name"],
                result.version or "fallback",
                result.status,
                f"{result.latency_ms / 1000:.1f}s",
                f"{result.prompt_tokens}+{result.completion_tokens}",
                _cell("industry", parsed, grades, lead["expected"]),
                _cell("size_band", parsed, grades, lead["expected"]),
                f"{grades['overall']:.2f}" if grades else "unparsable",
            )
    console.print(table)
    po.flush()
    stats = po.stats()
    fallbacks = ", ".join(f"{k}: {v}" for k, v in stats.fallbacks.items()) or "none"
    console.print(
        f"{stats.runs} runs · {stats.ok} ok · fallbacks: {fallbacks} · "
        f"{stats.recorder['written']} rows written · {stats.recorder['dropped']} dropped"
    )


def _evolve(po: PromptOptimizer, budget: int, max_items: int) -> EvolutionReport:
    with console.status(f"evolving ai_enrichment_en on the bundled leads ({budget} optimization calls)…"):
        report = quick_round(
            po.store, prompt="ai_enrichment_en", budget=budget, max_items=max_items, registry=po.registry
        )
    print_report(report)
    return report


def what_was_measured(report: EvolutionReport) -> str:
    """What the round measured, in figures, when nothing goes to users: the test leads' count, the parent's
    and the candidate's scores with their intervals, the improvement and its interval, the trivial
    baselines and which reference the gate used; or the validation figures when no candidate got that far.
    Why: a refusal without its numbers reads as "evolution does nothing", when it often means "the test
    split was too small to show the gain"."""
    result, test = report.result, report.result.test
    level = f"{round((test.gate.confidence if test.gate else 0.95) * 100)} %"
    if report.status == "no_candidate":
        finalists = [f for f in result.finalists if f.validation_score is not None]
        if result.parent_validation is None or not finalists:
            return (
                "no candidate was validated (the search budget ran out before one finished its first "
                "minibatch), so nothing reached the test leads"
            )
        best = max(finalists, key=lambda f: f.validation_penalised or 0.0)
        items = result.spend.validation_calls // (len(result.finalists) + 1)  # every prompt, same items
        return (
            f"on {items} validation leads the best candidate ({best.candidate.strategy}) scored "
            f"{best.validation_score:.3f} ({best.validation_penalised:.3f} after the length penalty) "
            f"against the parent's {result.parent_validation:.3f}: not above it, so no candidate reached "
            "the test leads"
        )
    if test.parent_gate is None or result.gate is None:
        return (
            f"the test stage could not finish: {test.spend.calls} of its {test.planned_calls} planned calls "
            f"answered, on {len(test.examples)} test leads"
        )
    p, g = test.parent_gate, result.gate
    lines = [
        f"on {p.improvement.n} held-out test leads ({level} intervals): parent {report.parent.ref} "
        f"{p.parent.mean:.3f} [{p.parent.low:.3f}, {p.parent.high:.3f}], candidate"
        + (f" {report.child.ref}" if report.child is not None else "")
        + f" ({result.winner.strategy if result.winner else '?'}) {p.child.mean:.3f} "
        f"[{p.child.low:.3f}, {p.child.high:.3f}]; improvement {p.improvement.mean:+.3f} "
        f"[{p.improvement.low:+.3f}, {p.improvement.high:+.3f}]"
    ]
    for baseline in test.baselines:
        lines.append(f"trivial baseline, {baseline.name}: {baseline.mean:.3f} ({baseline.detail})")
    if test.reference != "parent":
        lines.append(
            f"the gate compared the candidate with the stronger reference, the {test.reference}: "
            f"{g.improvement.mean:+.3f} [{g.improvement.low:+.3f}, {g.improvement.high:+.3f}]"
        )
    verdict = (
        "the interval's lower bound is above zero: the gate passed it"
        if g.passed
        else "the interval includes zero or is below it: the gate refused it (a gain is shown only when the "
        "lower bound is above zero)"
    )
    width = (p.improvement.high - p.improvement.low) / 2
    lines.append(
        f"{verdict}; with {p.improvement.n} test leads the interval is ±{width:.3f} wide, so only a larger "
        "gain than that could show"
    )
    return "\n".join(lines)


def _no_ab(report: EvolutionReport) -> None:
    why = {
        "format_only": "the candidate repairs the format only: it does not beat the trivial baseline",
        "rejected": "the candidate did not beat the parent and the trivial baselines on held-out leads",
        "untested": "the test stage could not finish",
        "no_candidate": "no candidate beat the parent on validation",
    }.get(report.status, report.status)
    console.print(escape(f"No A/B test: {why}. What the round measured:\n{what_was_measured(report)}"))
    console.print(
        "Only a candidate that passes the gate is shown to users; a larger round (`promptevolve evolve "
        "ai_enrichment_en --dataset leads --budget 200`, which tests on the 150 English test leads) or "
        "the autopilot tries again."
    )


def _ab_test(po: PromptOptimizer, challenger: VariantInfo, units: int, html: Path | None) -> None:
    service = compose(po.store, actor="promptevolve demo", on_change=po.cache.invalidate).experiments
    exp = service.create_and_start(
        ExperimentCreate(
            prompt=challenger.prompt,
            control=challenger.parent_version or "1.0.0",
            treatments=[challenger.version],
            name=f"demo: {challenger.parent_version} vs {challenger.version}",
            metric="composite",
            ramp=[],
            srm_grace_s=0,
        )
    )
    leads = bundled_leads("en")[-units:]  # leads the enrichment step did not use
    for i, lead in enumerate(leads, start=1):
        with console.status(f"A/B traffic {i}/{len(leads)}: {lead['inputs']['company_name']}…"):
            _serve_and_grade(po, challenger.prompt, lead)
    po.flush()
    result = service.analyze(exp.id)
    print_analysis(result)
    if result.verdict in ("collecting", "running"):
        console.print(
            f"The test stays running: a decision needs at least {result.experiment.min_sample} units per arm "
            f"(power analysis for an effect of {result.experiment.mde:g} at 80 %) and an interval that "
            f"excludes zero. `promptevolve ab status {exp.id}` analyses it again; the autopilot does at "
            "every pass."
        )
    if html is not None:
        html.write_text(report_html(service.report(exp.id)), encoding="utf-8")
        console.print(f"report with the lift interval over time: {html}")


def _autopilot_pass(database_url: str, experiment_running: bool, budget: int, max_items: int) -> None:
    from promptevolve.examples.lead_enrichment.demo_round import demo_pass

    # With a live A/B test the pass analyses it (and ramps, rolls back or promotes); without one it
    # evolves the French prompt on its own small budget, so a user sees a round and its verdict.
    prompt = "ai_enrichment_en" if experiment_running else "ai_enrichment_fr"
    demo_pass(database_url, prompt=prompt, budget=budget, max_items=max_items, console=console)


def demo(
    ctx: typer.Context,
    leads: Annotated[int, typer.Option(min=1, max=50, help="Example leads per language to enrich.")] = 2,
    budget: Annotated[
        int,
        typer.Option(min=0, max=1000, help="Optimization calls of the evolution round; 0 skips it."),
    ] = 24,
    max_items: Annotated[
        int, typer.Option(min=2, max=100, help="Leads per split the evolution round uses (test included).")
    ] = 6,
    ab_units: Annotated[
        int, typer.Option(min=0, max=80, help="Leads sent through the A/B test (if one starts); 0 skips it.")
    ] = 12,
    report: Annotated[
        Path | None, typer.Option(help="Write the A/B test's HTML report (lift interval over time) here.")
    ] = None,
    autopilot: Annotated[bool, typer.Option(help="End with one autopilot pass.")] = True,
) -> None:
    """Run the loop on the bundled example with the local model: enrich, feedback, evolve, A/B, autopilot."""
    settings = state_of(ctx).settings()
    default_model_path()  # the weights are installed apart (README): say so before anything runs
    started = time.perf_counter()
    experiment_running = False
    _step(1, "database and baselines")
    with PromptOptimizer(settings=settings) as po:
        current, head = schema_status(po.store)
        if current != head:
            upgrade(po.store)
        for variant, created in install_baselines(po.registry):
            console.print(
                f"{variant.ref} ({variant.kind.value}, {'registered' if created else 'already there'}, "
                f"serving {variant.share:g} %)"
            )
        po.cache.invalidate()
        _step(2, "production calls through the registry, with feedback")
        _enrich(po, leads)
        if budget:
            _step(3, "a short evolution round (explicit budget, held-out gate)")
            evolved = _evolve(po, budget, max_items)
            _step(4, "A/B test of the gated candidate")
            if evolved.status == "passed" and evolved.child is not None and ab_units:
                _ab_test(po, evolved.child, ab_units, report)
                experiment_running = True
            elif evolved.status == "passed":
                console.print("the candidate passed the gate; --ab-units 0 skips its A/B test")
            else:
                _no_ab(evolved)
    if autopilot:
        _step(5, "one autopilot pass")
        pilot_budget, pilot_items = max(12, budget // 2), max(3, max_items // 2)
        _autopilot_pass(settings.database_url, experiment_running, pilot_budget, pilot_items)
    elapsed = time.perf_counter() - started
    console.print(
        f"demo done in {elapsed:.0f} s. next: [bold]promptevolve executions list[/] · "
        "[bold]promptevolve prompt lineage ai_enrichment_en[/] · [bold]promptevolve ab status[/] · "
        "[bold]promptevolve serve[/]"
    )
