"""Grading an enrichment against a lead's gold labels: the per-field check the demo's "users" apply.

Each judged field scores 1 when right: ``industry`` and ``size_band`` exactly, ``ai_maturity`` within
one level, ``growth_signals`` as the set F1 (two empty sets agree). The grade is their mean; an output
that is not a JSON object scores 0 on every field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["FIELDS", "grade"]

FIELDS = ("industry", "size_band", "ai_maturity", "growth_signals")


def _signals_f1(predicted: Any, expected: list[str]) -> float:
    if not isinstance(predicted, list):
        return 0.0
    got, want = {str(x) for x in predicted}, set(expected)
    if not got and not want:
        return 1.0
    hits = len(got & want)
    if hits == 0:
        return 0.0
    precision, recall = hits / len(got), hits / len(want)
    return 2 * precision * recall / (precision + recall)


def _maturity(predicted: Any, expected: int) -> float:
    try:
        return 1.0 if abs(int(predicted) - expected) <= 1 else 0.0
    except (TypeError, ValueError):
        return 0.0


def grade(parsed: Any, expected: Mapping[str, Any]) -> dict[str, float]:
    """Per-field scores in [0, 1] and their mean under ``"overall"``."""
    if not isinstance(parsed, Mapping):
        scores = dict.fromkeys(FIELDS, 0.0)
    else:
        scores = {
            "industry": float(str(parsed.get("industry", "")).strip().lower() == expected["industry"]),
            "size_band": float(str(parsed.get("size_band", "")).strip() == expected["size_band"]),
            "ai_maturity": _maturity(parsed.get("ai_maturity"), expected["ai_maturity"]),
            "growth_signals": _signals_f1(parsed.get("growth_signals"), expected["growth_signals"]),
        }
    scores["overall"] = sum(scores[f] for f in FIELDS) / len(FIELDS)
    return scores
