"""The README's main job ends with ``demo_pass``: one pass on the demo database that prints its decisions."""

from __future__ import annotations

import json

from promptevolve.autopilot import get_policy
from promptevolve.cli.demo import bundled_leads
from promptevolve.client import PromptOptimizer
from promptevolve.core.settings import Settings
from promptevolve.examples.lead_enrichment.baselines import install_baselines
from promptevolve.examples.lead_enrichment.demo_round import demo_pass
from promptevolve.providers.scripted import ScriptedProvider
from promptevolve.registry import Registry

ANSWER = json.dumps(
    {
        "industry": "software",
        "size_band": "11-50",
        "ai_maturity": 3,
        "growth_signals": [],
        "recommended_pitch": "…",
    }
)


def test_demo_pass_sets_a_small_policy_runs_one_pass_and_prints_its_decisions(store):
    registry = Registry(store, actor="demo")
    install_baselines(registry)
    lines: list[str] = []
    model = ScriptedProvider([ANSWER], cycle=True, name="local")
    with PromptOptimizer(store, settings=Settings(database_url=store.url), providers={"local": model}) as po:
        for lead in bundled_leads("en")[:2]:  # what the demo did before: a few leads and their feedback
            result = po.run("ai_enrichment_en", lead["inputs"], unit_id=lead["id"])
            po.feedback(result.execution_id, score=0.5, thumbs=True, source="evaluator")
    model = ScriptedProvider([ANSWER], cycle=True, name="local")
    report = demo_pass(store, providers={"local": model}, echo=lines.append)
    policy = get_policy(registry, "ai_enrichment_en")
    assert policy is not None and policy.autonomy.value == "autonomous" and policy.daily_calls == 40
    [result] = report.prompts
    assert result.outcome == "done" and result.steps[0].action in ("evolved", "evolve_failed")
    assert any(line.startswith("ai_enrichment_en: evolved: evolution round") for line in lines), lines
    assert model.call_count <= 40
    again = demo_pass(store, providers={"local": model}, echo=lines.append)
    assert again.prompts[0].steps, "a second pass says why it waits"


def test_demo_pass_takes_a_database_url_and_a_rich_console(store, database_url):
    from rich.console import Console

    install_baselines(Registry(store, actor="demo"))
    console = Console(record=True, width=200)
    report = demo_pass(
        database_url, console=console, providers={"local": ScriptedProvider([ANSWER], cycle=True)}
    )
    assert report.prompts[0].outcome == "done"
    assert "ai_enrichment_en: skip: waiting for feedback" in console.export_text()
