"""``lead_enrichment``: the JSON-fields evaluator configured for our first user's task, with the task's
vocabulary and its one grader.

Four judged fields, equal weights: ``industry`` (exact, from the closed list), ``size_band`` (exact),
``ai_maturity`` (1 for the right level, 0.5 one level off, 0 beyond) and ``growth_signals`` (set F1,
an empty list matching an empty list). The free-text ``recommended_pitch`` is not judged here (an LLM
judge with a rubric can be). The schema (closed vocabularies, integer maturity) is reported in the
explanation but carries no weight of its own: the fields already score what it checks.

**One grader.** ``grade`` scores an answer already parsed by the same rules (``JsonFields.field_scores``)
and is what the demo's simulated users and ``bench/local_model.py`` grade with, so their grades, the
evaluator's scores and evolution's agree (they disagreed on AI maturity one level off: 1.0 against 0.5).

**The vocabulary lives here**, not in ``examples/lead_enrichment``: a library evaluator must not import an
example (the example's dataset, prompts and demo build on the library, not the reverse). A closed list
is what makes the enrichment judgeable: an answer outside it is wrong, not "close". The baseline prompts
quote these lists verbatim, so changing one means registering new prompt versions, not editing the old
ones. ``examples.lead_enrichment.taxonomy`` names them for the example.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from promptevolve.scoring.evaluators.json_fields import FieldRule, JsonFields

__all__ = [
    "AI_MATURITY_LEVELS",
    "GROWTH_SIGNALS",
    "INDUSTRIES",
    "LEAD_FIELDS",
    "LEAD_FIELD_RULES",
    "LEAD_SCHEMA",
    "SIZE_BANDS",
    "LeadEnrichment",
    "grade",
]

INDUSTRIES: tuple[str, ...] = (
    "software",
    "fintech",
    "healthcare",
    "biotech_pharma",
    "ecommerce_retail",
    "manufacturing",
    "logistics",
    "energy",
    "education",
    "media_entertainment",
    "marketing_advertising",
    "real_estate",
    "professional_services",
    "telecom",
    "food_agriculture",
    "travel_hospitality",
    "public_sector_nonprofit",
    "cybersecurity",
    "automotive",
    "construction",
)

#: Employee-count bands, inclusive at both ends.
SIZE_BANDS: tuple[str, ...] = ("1-10", "11-50", "51-200", "201-1000", "1001-5000", "5000+")

GROWTH_SIGNALS: tuple[str, ...] = (
    "hiring",
    "funding_round",
    "new_product",
    "international_expansion",
    "partnership",
    "acquisition",
    "ai_adoption",
    "new_office",
    "revenue_growth",
    "leadership_hire",
)

#: What each AI-maturity level means; the prompts quote this scale.
AI_MATURITY_LEVELS: dict[int, str] = {
    1: "no visible use of data or AI",
    2: "uses off-the-shelf tools with AI features, no own initiative",
    3: "pilots or a first AI use case in production",
    4: "several AI use cases in production, a data/ML team",
    5: "AI is the core of the product or business model",
}


LEAD_FIELD_RULES: tuple[FieldRule, ...] = (
    FieldRule("industry", "exact"),
    FieldRule("size_band", "exact"),
    FieldRule("ai_maturity", "numeric", tolerance=0.0, scale=2.0),
    FieldRule("growth_signals", "set_f1"),
)
LEAD_FIELDS: tuple[str, ...] = tuple(r.name for r in LEAD_FIELD_RULES)

LEAD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["industry", "size_band", "ai_maturity", "growth_signals"],
    "properties": {
        "industry": {"enum": list(INDUSTRIES)},
        "size_band": {"enum": list(SIZE_BANDS)},
        "ai_maturity": {
            "type": "integer",
            "minimum": min(AI_MATURITY_LEVELS),
            "maximum": max(AI_MATURITY_LEVELS),
        },
        "growth_signals": {"type": "array", "items": {"enum": list(GROWTH_SIGNALS)}, "uniqueItems": True},
    },
}


class LeadEnrichment(JsonFields):
    name = "lead_enrichment"

    def __init__(self) -> None:
        super().__init__(rules=LEAD_FIELD_RULES, schema=LEAD_SCHEMA, schema_weight=0.0)


@cache
def _evaluator() -> LeadEnrichment:
    return LeadEnrichment()


def grade(parsed: Any, expected: Mapping[str, Any]) -> dict[str, float]:
    """Per-field scores in [0, 1] of a parsed answer against a lead's gold labels, and their mean under
    ``"overall"`` (what ``LeadEnrichment`` scores the same answer); anything but a JSON object scores 0
    on every field."""
    if isinstance(parsed, Mapping):
        scores = _evaluator().field_scores(parsed, expected)
    else:
        scores = dict.fromkeys(LEAD_FIELDS, 0.0)
    scores["overall"] = sum(scores[f] for f in LEAD_FIELDS) / len(LEAD_FIELDS)
    return scores
