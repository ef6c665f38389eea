"""``exact``: the output equals the expected answer, character for character after trimming whitespace.

``labels`` (or ``choices``) declares the closed set of answers of a classification task: an output that
is none of them is reported unparsable (a format failure, apart from a wrong class), and evolution uses
the set for balanced demonstrations, the ``choices`` constraint and the majority-class baseline.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from promptevolve.scoring.evaluators.base import Evaluation, Evaluator, label_set, require_expected

__all__ = ["ExactMatch"]


class ExactMatch(Evaluator):
    """1 when ``output.strip() == str(expected).strip()``, else 0 (``strip=False`` compares raw text)."""

    name = "exact"

    def __init__(self, *, strip: bool = True, labels: Any = None, choices: Any = None) -> None:
        self._strip = strip
        self._labels = label_set(labels, choices)

    @property
    def labels(self) -> tuple[str, ...] | None:
        return self._labels

    def describe(self) -> str:
        return self.name if self._labels is None else f"{self.name} (labels {', '.join(self._labels)})"

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
        parsed = self._labels is None or got in self._labels
        return Evaluation(0.0, f"expected {_short(want)!r}, got {_short(got)!r}", parsed=parsed)


def _short(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
