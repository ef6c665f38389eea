"""What the demo says when its evolution round puts nothing in front of users (scripted model).

The demo's round runs ``quick_round`` on the bundled leads; here a scripted model answers instead of the
local one, so each verdict can be produced on purpose and the demo's sentence checked against the run's
own figures.
"""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

from promptevolve.cli.demo import bundled_leads, what_was_measured
from promptevolve.core.types import ModelSettings, RenderedPrompt
from promptevolve.evolution import import_jsonl, load_examples
from promptevolve.examples.lead_enrichment.baselines import install_baselines
from promptevolve.examples.lead_enrichment.demo_round import QUICK_DATASET, quick_round
from promptevolve.providers import ScriptedProvider
from promptevolve.registry import Registry

LEADS = Path(str(files("promptevolve.examples.lead_enrichment") / "leads.jsonl"))
#: What the "parent" model answers to every lead: a fixed enrichment, partly right on some leads.
FIXED = {"industry": "software", "size_band": "11-50", "ai_maturity": 3, "growth_signals": []}
GOLD = {lead["inputs"]["description"]: lead for lead in bundled_leads("en")}


def _lead_asked(text: str) -> dict:
    """The lead a prompt asks about: the description that occurs last (demos come before the query)."""
    return max(GOLD.values(), key=lambda lead: text.rfind(lead["inputs"]["description"]))


def _model(right_on: set[str] | None):
    """Prompts with worked examples ("Answer:") get the gold answer on the leads of ``right_on`` (all
    when None), the fixed answer elsewhere; the parent's prompt always gets the fixed answer."""

    def reply(prompt: RenderedPrompt, settings: ModelSettings) -> str:
        text = prompt.as_text()
        lead = _lead_asked(text)
        if "Answer:" in text and (right_on is None or lead["id"] in right_on):
            return json.dumps(lead["expected"])
        return json.dumps(FIXED)

    return reply


def _round(store, model) -> object:
    registry = Registry(store, actor="test")
    install_baselines(registry)
    return quick_round(
        store, registry=registry, budget=24, max_items=6, providers={"local": ScriptedProvider(model)}
    )


def test_no_candidate_above_the_parent_says_what_validation_measured(store):
    report = _round(store, lambda prompt, settings: json.dumps(FIXED))  # every prompt answers the same
    assert report.status == "no_candidate"
    said = what_was_measured(report)
    result = report.result
    best = max(result.finalists, key=lambda f: f.validation_penalised or 0.0)
    assert "on 6 validation leads" in said
    assert f"scored {best.validation_score:.3f}" in said
    assert f"the parent's {result.parent_validation:.3f}" in said
    assert "no candidate reached the test leads" in said


def test_a_refused_candidate_is_reported_with_its_interval_leads_and_baseline(store):
    import_jsonl(store, QUICK_DATASET, LEADS, seed=1, evaluator="lead_enrichment")  # as quick_round does
    # The candidate is right on train and validation but, on the test leads, on the first one only.
    test_keys = {e.key for e in load_examples(store, QUICK_DATASET, split="test", locale="en")[:6]}
    everything = {lead["id"] for lead in GOLD.values()}
    first_test = min(test_keys)
    report = _round(store, _model((everything - test_keys) | {first_test}))
    assert report.status in ("rejected", "format_only")
    said = what_was_measured(report)
    gate = report.result.test.parent_gate
    assert gate is not None
    assert "on 6 held-out test leads (95 % intervals)" in said
    assert f"parent {report.parent.ref} {gate.parent.mean:.3f} [{gate.parent.low:.3f}" in said
    assert f"(few_shot) {gate.child.mean:.3f} [{gate.child.low:.3f}, {gate.child.high:.3f}]" in said
    assert f"improvement {gate.improvement.mean:+.3f} [{gate.improvement.low:+.3f}," in said
    assert gate.improvement.low <= 0 < gate.improvement.mean
    baseline = report.result.test.baselines[0]
    assert f"trivial baseline, {baseline.name}: {baseline.mean:.3f}" in said
    assert "the gate refused it" in said and "with 6 test leads the interval is ±" in said


def test_a_passed_candidate_is_reported_as_passed(store):
    report = _round(store, _model(None))  # worked examples make every answer right
    assert report.status == "passed"
    said = what_was_measured(report)
    assert "the gate passed it" in said and "refused" not in said
