"""``exact``: the output equals the expected answer, character for character after trimming whitespace."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from promptevolve.scoring.evaluators.base import Evaluation, Evaluator, require_expected

__all__ = ["ExactMatch"]


class ExactMatch(Evaluator):
    """1 when ``output.strip() == str(expected).strip()``, else 0 (``strip=False`` compares raw text)."""

    name = "exact"

    def __init__(self, *, strip: bool = True) -> None:
        self._strip = strip

    def evaluate(
        self,
        *,
        output: str,
        expected: Any = None,
        inputs: Mapping[str, Any] | None = None,
        rubric: str | None = None,
    ) -> Evaluation:
        require_expected(self.name, expected)
        want = expected if isinstance(expected, str) else str(expected)
        got = output.strip() if self._strip else output
        want = want.strip() if self._strip else want
        if got == want:
            return Evaluation(1.0)
        return Evaluation(0.0, f"expected {_short(want)!r}, got {_short(got)!r}")


def _short(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
