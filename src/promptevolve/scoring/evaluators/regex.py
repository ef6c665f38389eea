"""``regex``: the output matches a regular expression (the evaluator's, or the item's expected one).

``pattern`` given to the constructor applies to every item; otherwise the item's ``expected`` is the
pattern. ``full=True`` requires the whole (trimmed) output to match, else a match anywhere counts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from promptevolve.core.errors import ConfigurationError
from promptevolve.scoring.evaluators.base import Evaluation, Evaluator, require_expected

__all__ = ["RegexMatch"]


def _compile(pattern: str, flags: int) -> re.Pattern[str]:
    try:
        return re.compile(pattern, flags)
    except re.error as exc:
        raise ConfigurationError(f"invalid regular expression {pattern!r}: {exc}") from None


class RegexMatch(Evaluator):
    name = "regex"

    def __init__(self, *, pattern: str | None = None, full: bool = False, ignore_case: bool = False) -> None:
        self._flags = re.IGNORECASE if ignore_case else 0
        self._pattern = _compile(pattern, self._flags) if pattern is not None else None
        self._full = full

    def evaluate(
        self,
        *,
        output: str,
        expected: Any = None,
        inputs: Mapping[str, Any] | None = None,
        rubric: str | None = None,
    ) -> Evaluation:
        pattern = self._pattern
        if pattern is None:
            require_expected(self.name, expected)
            pattern = _compile(str(expected), self._flags)
        text = output.strip()
        found = pattern.fullmatch(text) if self._full else pattern.search(text)
        if found:
            return Evaluation(1.0)
        how = "match entirely" if self._full else "contain a match for"
        return Evaluation(0.0, f"the output does not {how} /{pattern.pattern}/: {text[:120]!r}")

    def describe(self) -> str:
        return f"regex /{self._pattern.pattern}/" if self._pattern else "regex (pattern per item)"
