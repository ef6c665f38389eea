"""``judge``: a model grades the output against a rubric (LLM-as-a-judge).

The judge model is any ``Provider`` (the local model by default when built through the registry of
evaluators with ``provider=``; a stronger OpenAI-compatible model is better). It sees the task inputs,
the rubric (the item's, else the evaluator's), the reference answer if there is one, and the output,
and must answer ``Score: N`` (0-10) followed by one sentence of reasons. The score is read with a
tolerant pattern; a reply without a score is **unparsable**: score 0, ``parsed=False``, the raw reply in
the explanation, never a crash (small judges often ramble). A provider error is not caught: the caller's
budget and retry logic decide what a failed call means.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from promptevolve.core.errors import ConfigurationError
from promptevolve.core.protocols import Provider
from promptevolve.core.types import ChatMessage, ModelSettings, RenderedPrompt, TemplateKind
from promptevolve.scoring.evaluators.base import Evaluation, Evaluator

__all__ = ["DEFAULT_RUBRIC", "LLMJudge", "parse_judge_reply"]

DEFAULT_RUBRIC = "The answer is correct, complete and follows the instructions of the task."
_SCORE = re.compile(r"score\s*[:=]?\s*(\d+(?:\.\d+)?)\s*(?:/\s*10)?", re.IGNORECASE)
_SYSTEM = (
    "You are a strict grader. Read the task, the rubric and the answer. Reply with one line "
    "'Score: N' where N is an integer from 0 (fails the rubric) to 10 (fully meets it), then one "
    "sentence explaining the main problem."
)


def parse_judge_reply(reply: str) -> tuple[float | None, str]:
    """(score in [0, 1] or None, the reasons) from a judge's reply."""
    match = _SCORE.search(reply)
    if match is None:
        return None, reply.strip()
    value = float(match.group(1))
    if value > 10:
        return None, reply.strip()
    reasons = (reply[: match.start()] + reply[match.end() :]).strip(" \n.-:")
    return value / 10.0, reasons


class LLMJudge(Evaluator):
    name = "judge"
    calls_model = True

    def __init__(
        self,
        *,
        provider: Provider,
        rubric: str | None = None,
        settings: ModelSettings | None = None,
    ) -> None:
        if provider is None:
            raise ConfigurationError("the judge evaluator needs a provider (the model that grades)")
        self._provider = provider
        self._rubric = rubric or DEFAULT_RUBRIC
        self._settings = settings or ModelSettings(temperature=0.0, max_tokens=60, seed=0)

    def evaluate(
        self,
        *,
        output: str,
        expected: Any = None,
        inputs: Mapping[str, Any] | None = None,
        rubric: str | None = None,
    ) -> Evaluation:
        prompt = self.prompt(output=output, expected=expected, inputs=inputs, rubric=rubric)
        reply = self._provider.complete(prompt, self._settings).text
        score, reasons = parse_judge_reply(reply)
        if score is None:
            return Evaluation(0.0, f"judge reply had no score: {reasons[:160]!r}", parsed=False)
        return Evaluation(score, reasons[:300] if score < 1 else None)

    def prompt(
        self, *, output: str, expected: Any, inputs: Mapping[str, Any] | None, rubric: str | None
    ) -> RenderedPrompt:
        """The grading prompt (public so budgets can estimate its size before calling)."""
        parts = [f"Rubric: {rubric or self._rubric}"]
        if inputs:
            parts.append("Task inputs: " + json.dumps(dict(inputs), ensure_ascii=False)[:1500])
        if expected is not None:
            parts.append(
                "Reference answer: "
                + (expected if isinstance(expected, str) else json.dumps(expected, ensure_ascii=False))
            )
        parts.append(f"Answer to grade: {output[:2000]}")
        return RenderedPrompt(
            TemplateKind.CHAT,
            messages=(ChatMessage("system", _SYSTEM), ChatMessage("user", "\n\n".join(parts))),
        )

    def describe(self) -> str:
        return f"judge ({getattr(self._provider, 'name', 'model')}): {self._rubric[:60]}"
