"""``lead_enrichment``: the JSON-fields evaluator configured for our first user's task.

Four judged fields, equal weights: ``industry`` (exact, from the closed list), ``size_band`` (exact),
``ai_maturity`` (1 for the right level, 0.5 one level off, 0 beyond) and ``growth_signals`` (set F1,
an empty list matching an empty list). The free-text ``recommended_pitch`` is not judged here (an LLM
judge with a rubric can be). The schema (closed vocabularies, integer maturity) is reported in the
explanation but carries no weight of its own: the fields already score what it checks.
"""

from __future__ import annotations

from typing import Any

from promptevolve.examples.lead_enrichment.taxonomy import (
    AI_MATURITY_LEVELS,
    GROWTH_SIGNALS,
    INDUSTRIES,
    SIZE_BANDS,
)
from promptevolve.scoring.evaluators.json_fields import FieldRule, JsonFields

__all__ = ["LEAD_FIELD_RULES", "LEAD_SCHEMA", "LeadEnrichment"]

LEAD_FIELD_RULES: tuple[FieldRule, ...] = (
    FieldRule("industry", "exact"),
    FieldRule("size_band", "exact"),
    FieldRule("ai_maturity", "numeric", tolerance=0.0, scale=2.0),
    FieldRule("growth_signals", "set_f1"),
)

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
