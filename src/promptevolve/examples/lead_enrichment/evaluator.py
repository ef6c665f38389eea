"""``lead_enrichment``: the library's ``json`` evaluator configured for the example's task, and the task's
one grader. The example registers it through the entry-point group ``promptevolve.evaluators``, the same
hook any plugin uses (promptevolve's ``pyproject.toml``), so the library never imports the example.

Four judged fields, equal weights: ``industry`` (exact, from the closed list), ``size_band`` (exact),
``ai_maturity`` (1 for the right level, 0.5 one level off, 0 beyond) and ``growth_signals`` (set F1,
an empty list matching an empty list). The free-text ``recommended_pitch`` is not judged here (an LLM
judge with a rubric can be). The schema (closed vocabularies, integer maturity) is reported in the
explanation but carries no weight of its own: the fields already score what it checks.

**One grader.** ``grade`` scores an answer already parsed by the same rules (``JsonFields.field_scores``)
and is what the demo's simulated users and ``bench/local_model.py`` grade with, so their grades, the
evaluator's scores and evolution's agree (they disagreed on AI maturity one level off: 1.0 against 0.5).
The closed vocabularies come from ``taxonomy``.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from promptevolve.examples.lead_enrichment.taxonomy import (
    AI_MATURITY_LEVELS,
    GROWTH_SIGNALS,
    INDUSTRIES,
    SIZE_BANDS,
)
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
