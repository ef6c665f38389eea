"""End to end with the real local model (SmolLM2-135M): production traffic for the bundled lead task
through the SDK, simulated users grading each answer against the leads' gold labels, autopilot passes
in between; the serving variant's true score on held-out leads never falls below the baseline's and the
day's budget is never exceeded.

Kept small on purpose (about 40 model calls: 30 s on an idle 2-core machine, a few minutes when other
jobs load it; one call of the full JSON enrichment takes 25-50 s there): the task is the lead's
``industry`` (graded against the gold label like the demo's users do), a completion-style prompt with
a short answer, and a round of twenty calls on what production feedback has produced. With so little
data the gate rarely passes and no A/B test can finish; what the test proves is that the loop runs on
a real model, spends what its policy allows, and changes nothing that would make the served prompt
worse. SQLite only: the model's time
dominates, and the scripted tests cover both databases.
"""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from promptevolve.autopilot import update_policy
from promptevolve.cli.demo import bundled_leads
from promptevolve.client import PromptOptimizer
from promptevolve.compose import compose, compose_autopilot
from promptevolve.core.settings import Settings
from promptevolve.core.types import Completion, ModelSettings, RenderedPrompt
from promptevolve.providers import LocalProvider
from promptevolve.registry import Registry, VariantCreate
from promptevolve.scoring.evaluators import create_evaluator
from promptevolve.store.engine import Store
from promptevolve.store.migrate import upgrade
from promptevolve.store.tables import AutopilotBudget, Decision
from promptevolve.tracking.feedback import FeedbackIn, record_feedback_many

pytestmark = pytest.mark.slow

PROMPT = "lead_industry"
TEMPLATE = (
    "Classify the company into one industry: software, fintech, healthcare, biotech_pharma, "
    "ecommerce_retail, manufacturing, logistics, energy, education, cybersecurity.\n\n"
    "Company: {{ company_name }}\nAbout: {{ description }}\nIndustry:"
)
SETTINGS = ModelSettings(provider="local", max_tokens=8, temperature=0.0, seed=0, stop=["\n"])
DAILY_CALLS = 20


class Counting:
    """The local model, counting the calls made through this instance (the evolution's)."""

    def __init__(self, inner: LocalProvider) -> None:
        self.inner, self.name, self.calls = inner, inner.name, 0
        self._lock = threading.Lock()

    def complete(self, prompt: RenderedPrompt, settings: ModelSettings) -> Completion:
        with self._lock:
            self.calls += 1
        return self.inner.complete(prompt, settings)

    async def acomplete(self, prompt: RenderedPrompt, settings: ModelSettings) -> Completion:
        return self.complete(prompt, settings)


def right(output: str | None, lead: dict) -> bool:
    verdict = create_evaluator("normalized").evaluate(
        output=output or "", expected=lead["expected"]["industry"], inputs=lead["inputs"], rubric=None
    )
    return verdict.score >= 1.0


def true_score(local: LocalProvider, registry: Registry, version: str, held_out: list[dict]) -> float:
    """The variant's accuracy on leads neither production nor evolution ever saw."""
    from promptevolve.templates import parse_template, render

    variant = registry.get_variant(PROMPT, version)
    template = parse_template(variant.template)
    hits = 0
    for lead in held_out:
        completion = local.complete(render(template, lead["inputs"]).prompt, variant.settings)
        hits += right(completion.text, lead)
    return hits / len(held_out)


def serve_leads(po: PromptOptimizer, store: Store, leads: list[dict]) -> None:
    """Production traffic, then the users' feedback: right or wrong, and the right industry when wrong."""
    results = [(po.run(PROMPT, lead["inputs"], unit_id=lead["id"]), lead) for lead in leads]
    assert po.flush(60)
    items = []
    for result, lead in results:
        if result.execution_id is None or result.status == "error":
            continue
        ok = right(result.text, lead)
        gold = lead["expected"]["industry"]
        items.append(
            FeedbackIn(
                execution_id=result.execution_id, score=float(ok), thumbs=ok, correction=None if ok else gold
            )
        )
    record_feedback_many(store, items)


def test_the_autopilot_never_serves_worse_than_the_baseline_with_the_real_model(tmp_path):
    store = Store.from_url(f"sqlite:///{tmp_path / 'e2e.db'}")
    upgrade(store)
    local = LocalProvider()
    evolution_model = Counting(local)
    registry = Registry(store, actor="e2e")
    registry.register(
        VariantCreate(
            prompt=PROMPT, template=TEMPLATE, settings=SETTINGS, locale="en", description="industry of a lead"
        )
    )
    registry.activate(PROMPT, "1.0.0")
    registry.set_label(PROMPT, "production", "1.0.0")
    leads = bundled_leads("en")
    held_out, production = leads[:6], leads[6:20]
    baseline = true_score(local, registry, "1.0.0", held_out)
    update_policy(
        registry,
        PROMPT,
        {
            "autonomy": "autonomous",
            "daily_calls": DAILY_CALLS,
            "evolution": {
                "min_feedback": 8,
                "round_calls": DAILY_CALLS,
                "strategies": ["few_shot"],
                "evaluator": "normalized",
                "minibatch": 2,
                "finalists": 1,
                "max_generations": 2,
            },
            "experiment": {"ramp": [], "min_sample": 3, "mde": 0.2, "guardrails": [], "srm_grace_s": 0},
            "drift": {"enabled": False},
        },
    )
    with PromptOptimizer(store, settings=Settings(database_url=store.url), providers={"local": local}) as po:
        autopilot = compose_autopilot(
            compose(
                store, actor="autopilot", providers={"local": evolution_model}, on_change=po.cache.invalidate
            )
        )
        scores = {"1.0.0": baseline}
        for batch in (production[:8], production[8:14]):
            serve_leads(po, store, batch)
            report = autopilot.run_once()
            assert report.prompts[0].outcome == "done", report
            serving = registry.get_variant(PROMPT).version
            if serving not in scores:
                scores[serving] = true_score(local, registry, serving, held_out)
            assert scores[serving] >= baseline, (scores, report)
    with store.read() as s:
        log = s.scalars(select(Decision).order_by(Decision.id)).all()
        ledger = s.scalars(select(AutopilotBudget)).all()
    for d in log:  # shown with -s: what the autopilot did with the real model
        print(f"{d.action}: {d.reason}")
    print(f"true scores on held-out leads: {scores}; evolution calls {evolution_model.calls}")
    rounds = [d for d in log if d.action in ("evolved", "evolve_failed")]
    assert rounds, [(d.action, d.reason) for d in log]
    assert evolution_model.calls <= DAILY_CALLS and all(row.calls <= DAILY_CALLS for row in ledger)
    assert sum(d.figures.get("calls", 0) for d in rounds) == evolution_model.calls
    store.dispose()
