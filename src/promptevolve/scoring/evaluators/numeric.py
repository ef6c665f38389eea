"""``numeric``: the first number in the output is within a tolerance of the expected number.

Score: 1 inside ``abs_tol`` or ``rel_tol`` (either suffices); beyond it, with ``partial=True``, credit
falls linearly to 0 at ``falloff`` times the tolerance; else 0. Thousands separators and a decimal comma
are understood (``"1 250,5"`` → 1250.5). No number in the output is an unparsable answer.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from promptevolve.core.errors import ConfigurationError
from promptevolve.scoring.evaluators.base import Evaluation, Evaluator, require_expected

__all__ = ["NumericTolerance", "parse_number"]

_NUMBER = re.compile(r"[-+]?\d[\d\s\u202f\u00a0,_']*(?:[.,]\d+)?(?:[eE][-+]?\d+)?|[-+]?[.,]\d+")


def parse_number(text: str) -> float | None:
    """The first number written in ``text``, or None."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        return float(text)
    match = _NUMBER.search(str(text))
    if match is None:
        return None
    raw = re.sub(r"[\s\u202f\u00a0_']", "", match.group(0))
    if raw.count(",") == 1 and "." not in raw and len(raw.split(",")[1]) != 3:
        raw = raw.replace(",", ".")  # a decimal comma
    raw = raw.replace(",", "")
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


class NumericTolerance(Evaluator):
    name = "numeric"

    def __init__(
        self, *, abs_tol: float = 0.0, rel_tol: float = 0.0, partial: bool = False, falloff: float = 3.0
    ) -> None:
        if abs_tol < 0 or rel_tol < 0 or falloff <= 1.0:
            raise ConfigurationError("numeric tolerances must be >= 0 and falloff > 1")
        self._abs, self._rel, self._partial, self._falloff = abs_tol, rel_tol, partial, falloff

    def evaluate(
        self,
        *,
        output: str,
        expected: Any = None,
        inputs: Mapping[str, Any] | None = None,
        rubric: str | None = None,
    ) -> Evaluation:
        require_expected(self.name, expected)
        want = parse_number(expected)
        if want is None:
            raise ConfigurationError(f"numeric evaluator: expected value {expected!r} is not a number")
        got = parse_number(output)
        if got is None:
            return Evaluation(0.0, f"no number in the output: {output.strip()[:120]!r}", parsed=False)
        score = self.score(got, want)
        return Evaluation(score, None if score >= 1 else f"expected {want:g}, got {got:g}")

    def score(self, got: float, want: float) -> float:
        """The credit for ``got`` when ``want`` is right (used by the JSON-fields evaluator too)."""
        error = abs(got - want)
        tolerance = max(self._abs, self._rel * abs(want))
        if error <= tolerance + 1e-12:
            return 1.0
        if not self._partial:
            return 0.0
        span = max(tolerance, 1e-12) * self._falloff
        return max(0.0, 1.0 - (error - tolerance) / (span - tolerance)) if span > tolerance else 0.0

    def describe(self) -> str:
        return f"numeric (abs_tol={self._abs:g}, rel_tol={self._rel:g})"
