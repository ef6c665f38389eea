"""``normalized``: the answers match once case, accents, punctuation and spacing are set aside.

Normalisation: Unicode NFKD with accents removed, lower case, every run of characters that are neither
letters nor digits replaced by one space, trimmed. ``"Fintech."`` matches ``"fintech"`` and
``"Société Générale"`` matches ``"societe generale"``. ``expected`` may be a list of accepted answers.
``labels`` (or ``choices``) declares the closed answer set of a classification task, as for ``exact``:
an output that matches none of them (after normalisation) is reported unparsable.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from promptevolve.scoring.evaluators.base import Evaluation, Evaluator, label_set, require_expected

__all__ = ["NormalizedMatch", "normalize_text"]

_NON_WORD = re.compile(r"[^0-9a-z]+")


def normalize_text(text: str) -> str:
    """Lower case, no accents, words separated by single spaces."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _NON_WORD.sub(" ", bare.lower()).strip()


class NormalizedMatch(Evaluator):
    """1 when the normalised output equals a normalised expected answer; ``contains=True`` accepts an
    output that contains the expected answer as whole words (for chatty models)."""

    name = "normalized"

    def __init__(self, *, contains: bool = False, labels: Any = None, choices: Any = None) -> None:
        self._contains = contains
        self._labels = label_set(labels, choices)

    @property
    def labels(self) -> tuple[str, ...] | None:
        return self._labels

    def describe(self) -> str:
        options = [
            *(["contains"] if self._contains else []),
            *([f"labels {', '.join(self._labels)}"] if self._labels else []),
        ]
        return f"{self.name} ({'; '.join(options)})" if options else self.name

    def _is_label(self, got: str) -> bool:
        if self._labels is None:
            return True
        wanted = [normalize_text(label) for label in self._labels]
        return any(got == w or (self._contains and w and f" {w} " in f" {got} ") for w in wanted)

    def evaluate(
        self,
        *,
        output: str,
        expected: Any = None,
        inputs: Mapping[str, Any] | None = None,
        rubric: str | None = None,
    ) -> Evaluation:
        require_expected(self.name, expected)
        accepted = expected if isinstance(expected, list | tuple) else [expected]
        got = normalize_text(output)
        for answer in accepted:
            want = normalize_text(str(answer))
            if got == want or (self._contains and want and f" {want} " in f" {got} "):
                return Evaluation(1.0)
        wanted = " or ".join(repr(normalize_text(str(a))) for a in accepted)
        return Evaluation(0.0, f"expected {wanted}, got {got[:120]!r}", parsed=self._is_label(got))
