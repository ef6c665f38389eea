"""Grading an enrichment against a lead's gold labels: the per-field check the demo's "users" apply.

The task's one grader, ``evaluator.grade``: the same rules the
``lead_enrichment`` evaluator scores by (industry and size band exactly, AI maturity 1 for the right
level and 0.5 one level off, growth signals as the set F1, two empty sets agreeing). The grade is their
mean; an output that is not a JSON object scores 0 on every field.
"""

from __future__ import annotations

from promptevolve.examples.lead_enrichment.evaluator import LEAD_FIELDS as FIELDS
from promptevolve.examples.lead_enrichment.evaluator import grade

__all__ = ["FIELDS", "grade"]
