"""The fixed vocabulary of the lead-enrichment task, shared by the baseline prompts and the dataset.

Defined beside the task's grader, in ``scoring.evaluators.lead_enrichment`` (the library's evaluator
checks answers against it and must not import an example); named here for the example's dataset,
generator and documentation.
"""

from __future__ import annotations

from promptevolve.scoring.evaluators.lead_enrichment import (
    AI_MATURITY_LEVELS,
    GROWTH_SIGNALS,
    INDUSTRIES,
    SIZE_BANDS,
)

__all__ = ["AI_MATURITY_LEVELS", "GROWTH_SIGNALS", "INDUSTRIES", "SIZE_BANDS"]
