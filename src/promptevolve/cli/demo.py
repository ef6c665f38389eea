"""`promptevolve demo`: the README's main job, the whole loop on the embedded defaults.

On the bundled example and the local model, through the same services a team would use:

1. create the database and register the two baselines;
2. enrich English and French example leads *through the registry* (routing, rendering, the model call,
   tracking) and give each execution the feedback a user would — graded against the lead's gold labels,
   and said so;
3. a short evolution round on the English prompt, on an explicit budget, gated on held-out leads;
4. an A/B test between the baseline and the best evolved variant, fed by more leads, with its report
   (a table here, and an HTML chart of the lift interval over time);
5. one autopilot pass that shows its decisions.

Every step prints what it did; the database stays behind for `promptevolve executions list`,
`promptevolve prompt lineage ai_enrichment_en`, `promptevolve ab status`, or the dashboard.
"""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from promptevolve.cli.ab import print_analysis
from promptevolve.cli.common import console, state_of
from promptevolve.client import PromptOptimizer, RunResult
from promptevolve.core.types import VariantKind
from promptevolve.evolution import quick_round
from promptevolve.evolution.service import EvolutionReport
from promptevolve.examples.lead_enrichment.grading import grade
from promptevolve.experiments import ExperimentCreate, ExperimentService
from promptevolve.experiments.chart import report_html
from promptevolve.registry import Registry, VariantCreate, VariantInfo, install_baselines
from promptevolve.store.migrate import schema_status, upgrade

__all__ = ["bundled_leads", "demo"]

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


def _evolve(po: PromptOptimizer, budget: int) -> EvolutionReport:
    with console.status(f"evolving ai_enrichment_en on the bundled leads (budget {budget} model calls)…"):
        report = quick_round(po.store, prompt="ai_enrichment_en", budget=budget, registry=po.registry)
    r = report.result
    table = Table(
        title=f"Evolution run {report.run_id[:12]}: candidates of ai_enrichment_en@{report.parent.version}"
    )
    for col in ("strategy", "train score", "items", "validation", "chars"):
        table.add_column(col)
    for c in sorted(r.candidates, key=lambda c: -c.train_score)[:8]:
        table.add_row(
            c.candidate.strategy,
            f"{c.train_score:.3f}",
            str(c.train_items),
            "—" if c.validation_score is None else f"{c.validation_score:.3f}",
            str(c.candidate.chars),
        )
    console.print(table)
    gate = r.gate
    verdict = (
        (
            f"gate {'passed' if gate.passed else 'refused'}: improvement {gate.improvement.mean:+.3f} "
            f"[{gate.improvement.low:+.3f}, {gate.improvement.high:+.3f}] on test"
        )
        if gate
        else report.status
    )
    spend, test = report.optimization_spend, report.test_spend
    console.print(
        f"{spend.calls} optimization calls of {budget} spent ({spend.tokens:,} tokens) + {test.calls} test "
        f"calls, {len(r.unusable)} unusable proposals, parent validation "
        f"{'—' if r.parent_validation is None else f'{r.parent_validation:.3f}'} · {verdict}"
    )
    return report


def _challenger(registry: Registry, report: EvolutionReport) -> VariantInfo | None:
    """The evolved variant, or, when no finalist beat the parent, the best finalist registered as such."""
    if report.child is not None:
        return report.child
    ranked = [f for f in report.result.finalists if f.validation_score is not None] or list(
        report.result.candidates
    )
    if not ranked:
        return None
    best = max(ranked, key=lambda f: (f.validation_score or -1.0, f.train_score))
    return registry.register(
        VariantCreate(
            prompt=report.parent.prompt,
            template=best.candidate.template,
            settings=best.candidate.settings,
            kind=VariantKind.EVOLVED,
            parent=report.parent.version,
            strategy=best.candidate.strategy,
            rationale=f"demo: best finalist of run {report.run_id[:12]}, not validated by the gate",
        )
    ).variant


def _ab_test(po: PromptOptimizer, challenger: VariantInfo, units: int, html: Path) -> None:
    service = ExperimentService(
        po.store, registry=po.registry, actor="promptevolve demo", on_change=po.cache.invalidate
    )
    exp = service.create(
        ExperimentCreate(
            prompt=challenger.prompt,
            control=challenger.parent_version or "1.0.0",
            treatments=[challenger.version],
            name=f"demo: {challenger.parent_version} vs {challenger.version}",
            metric="composite",
            ramp=[],
            min_sample=max(2, units // 2),
            srm_grace_s=0,
        )
    )
    service.start(exp.id)
    po.cache.invalidate(challenger.prompt)
    leads = bundled_leads("en")[-units:]  # leads the enrichment step did not use
    for i, lead in enumerate(leads, start=1):
        with console.status(f"A/B traffic {i}/{len(leads)}: {lead['inputs']['company_name']}…"):
            _serve_and_grade(po, challenger.prompt, lead)
    po.flush()
    print_analysis(service.analyze(exp.id))
    html.write_text(report_html(service.report(exp.id)), encoding="utf-8")
    console.print(f"report with the lift interval over time: {html}")


def _autopilot_pass(database_url: str) -> None:
    from promptevolve.autopilot.demo import demo_pass  # loaded only when the step runs

    demo_pass(database_url, console=console)


def demo(
    ctx: typer.Context,
    leads: Annotated[int, typer.Option(min=1, max=50, help="Example leads per language to enrich.")] = 3,
    budget: Annotated[
        int, typer.Option(min=0, max=1000, help="Model calls for the evolution round; 0 skips it.")
    ] = 40,
    ab_units: Annotated[
        int, typer.Option(min=0, max=80, help="Leads sent through the A/B test; 0 skips it.")
    ] = 12,
    report: Annotated[Path, typer.Option(help="Where to write the A/B report (HTML).")] = Path(
        "ab-report.html"
    ),
    autopilot: Annotated[bool, typer.Option(help="End with one autopilot pass.")] = True,
) -> None:
    """Run the loop on the bundled example with the local model: enrich, feedback, evolve, A/B, autopilot."""
    settings = state_of(ctx).settings()
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
            evolved = _evolve(po, budget)
            challenger = _challenger(po.registry, evolved)
            if ab_units and challenger is not None:
                _step(4, f"A/B test: {challenger.parent_version} against {challenger.version}")
                _ab_test(po, challenger, ab_units, report)
    if autopilot:
        _step(5, "one autopilot pass")
        _autopilot_pass(settings.database_url)
    console.print(
        "next: [bold]promptevolve executions list[/] · [bold]promptevolve prompt lineage "
        "ai_enrichment_en[/] · [bold]promptevolve ab status[/] · [bold]promptevolve serve[/]"
    )
