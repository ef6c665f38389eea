"""`promptevolve demo`: the README's main job on the embedded defaults.

One run of the real loop on the bundled example: create the database, register the baselines, enrich a
handful of English and French example leads with the local model *through the registry* (routing,
rendering, the model call, tracking), give each execution the feedback a user would (graded against
the lead's gold labels, and said so), and print what happened. Later stages of the loop (evolution,
A/B test, autopilot) append their steps here as they land.
"""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Annotated, Any

import typer
from rich.table import Table

from promptevolve.cli.common import console, state_of
from promptevolve.client import PromptOptimizer, RunResult
from promptevolve.examples.lead_enrichment.grading import grade
from promptevolve.registry import install_baselines
from promptevolve.store.engine import Store
from promptevolve.store.migrate import schema_status, upgrade

__all__ = ["bundled_leads", "demo"]


def bundled_leads(locale: str | None = None) -> list[dict[str, Any]]:
    """The bundled example leads (English and French, with gold labels)."""
    path = files("promptevolve.examples.lead_enrichment") / "leads.jsonl"
    leads = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [lead for lead in leads if locale is None or lead["locale"] == locale]


def _prepare(database_url: str, actor: str) -> None:
    store = Store.from_url(database_url)
    try:
        current, head = schema_status(store)
        if current != head:
            upgrade(store)
            console.print(f"database {database_url}: migrated to schema {head}")
        from promptevolve.registry import Registry

        for variant, created in install_baselines(Registry(store, actor=actor)):
            state = "registered" if created else "already registered"
            console.print(f"{variant.ref} ({variant.kind.value}, {state}, serving {variant.share:g} %)")
    finally:
        store.dispose()


def _row(lead: dict[str, Any], result: RunResult, grades: dict[str, float] | None) -> list[str]:
    parsed = result.parsed if isinstance(result.parsed, dict) else {}
    want = lead["expected"]

    def cell(field: str) -> str:
        got = parsed.get(field, "—")
        mark = "✓" if grades and grades[field] >= 1.0 else "✗"
        return f"{mark} {got} ({want[field]})" if grades else str(got)

    return [
        lead["id"],
        lead["inputs"]["company_name"],
        f"{result.version or 'fallback'}",
        result.status,
        f"{result.latency_ms / 1000:.1f}s",
        f"{result.prompt_tokens}+{result.completion_tokens}",
        cell("industry"),
        cell("size_band"),
        f"{grades['overall']:.2f}" if grades else "unparsable",
    ]


def demo(
    ctx: typer.Context,
    leads: Annotated[int, typer.Option(min=1, max=50, help="Example leads per language.")] = 3,
) -> None:
    """Run the loop on the bundled example: enrich leads with the local model, record, give feedback."""
    settings = state_of(ctx).settings()
    _prepare(settings.database_url, settings.actor or "promptevolve demo")
    table = Table(title="Enrichments by the local model, through the registry (gold label in brackets)")
    for col in ("lead", "company", "version", "status", "time", "tokens", "industry", "size band", "grade"):
        table.add_column(col)
    with PromptOptimizer(settings=settings) as po:
        for prompt, locale in (("ai_enrichment_en", "en"), ("ai_enrichment_fr", "fr")):
            for lead in bundled_leads(locale)[:leads]:
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
                table.add_row(*_row(lead, result, grades))
        po.flush()
        stats = po.stats()
    console.print(table)
    fallbacks = ", ".join(f"{k}: {v}" for k, v in stats.fallbacks.items()) or "none"
    console.print(
        f"{stats.runs} runs · {stats.ok} ok · fallbacks {fallbacks} · "
        f"{stats.recorder['written']} rows written · {stats.recorder['dropped']} dropped"
    )
    console.print(
        "see them: [bold]promptevolve executions list[/] · a variant: "
        "[bold]promptevolve prompt show ai_enrichment_fr[/]"
    )
