"""``embedding``: cosine similarity of sentence embeddings (all-MiniLM-L6-v2, offline, NumPy).

The score maps cosine similarity to [0, 1] linearly between ``floor`` (0 credit; unrelated English
sentences sit around 0-0.2 for this model) and ``ceiling`` (full credit; paraphrases sit above 0.8).
``expected`` may be a list of references; the best one counts. The encoder is shared by evaluators in
the process only through the object passed as ``encoder`` (nothing global); by default each evaluator
builds its own and loads the 90 MB of weights on first use.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np

from promptevolve.core.errors import ConfigurationError
from promptevolve.scoring.evaluators.base import Evaluation, Evaluator, require_expected
from promptevolve.scoring.evaluators.minilm import MiniLMEncoder

__all__ = ["EmbeddingSimilarity", "TextEncoder"]


class TextEncoder(Protocol):
    def encode(self, texts: list[str]) -> np.ndarray: ...


class EmbeddingSimilarity(Evaluator):
    name = "embedding"

    def __init__(
        self, *, floor: float = 0.3, ceiling: float = 0.9, encoder: TextEncoder | None = None
    ) -> None:
        if not -1.0 <= floor < ceiling <= 1.0:
            raise ConfigurationError("embedding evaluator needs -1 <= floor < ceiling <= 1")
        self._floor, self._ceiling = floor, ceiling
        self._encoder = encoder or MiniLMEncoder()

    def similarity(self, a: str, b: str) -> float:
        vectors = self._encoder.encode([a, b])
        return float(vectors[0] @ vectors[1])

    def evaluate(
        self,
        *,
        output: str,
        expected: Any = None,
        inputs: Mapping[str, Any] | None = None,
        rubric: str | None = None,
    ) -> Evaluation:
        require_expected(self.name, expected)
        references = [str(e) for e in expected] if isinstance(expected, list | tuple) else [str(expected)]
        if not output.strip():
            return Evaluation(0.0, "empty output", parsed=False)
        vectors = self._encoder.encode([output, *references])
        best = float(max(vectors[0] @ vectors[i] for i in range(1, len(vectors))))
        score = (best - self._floor) / (self._ceiling - self._floor)
        explanation = None if score >= 1 else f"meaning differs from the reference (cosine {best:.2f})"
        return Evaluation(score, explanation, {"cosine": max(0.0, best)})

    def describe(self) -> str:
        return f"embedding (all-MiniLM-L6-v2, cosine {self._floor:g} → 0, {self._ceiling:g} → 1)"
