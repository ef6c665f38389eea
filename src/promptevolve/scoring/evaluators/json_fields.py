"""``json``: the output is a JSON object; each declared field is scored, and the score is their weighted mean.

What it checks, in order:

1. **Validity.** The output must hold a JSON object (code fences and chatter after the object are
   tolerated; the first object is read). No object → score 0, ``parsed=False``, and the parse error as
   the explanation.
2. **Schema** (optional ``schema``, a JSON Schema validated by ``jsonschema``). Violations are listed in
   the explanation; ``schema_weight`` (default 0) gives validity its own share of the score.
3. **Fields.** Each ``FieldRule`` compares one key with the expected object's key and scores it in
   [0, 1]; a missing key scores 0. Kinds:

   - ``exact``: equal after trimming and lower-casing strings (``"Fintech "`` = ``"fintech"``);
   - ``numeric``: ``max(0, 1 - max(0, |got - want| - tolerance) / scale)``: full credit inside the
     tolerance, falling linearly to 0 (``scale`` defaults to 1, so any error beyond the tolerance is 0);
   - ``set_f1``: F1 of two sets of strings (both empty → 1); a single string counts as a one-item list.

Per-field scores are returned in ``Evaluation.fields`` and every imperfect field is named in the
explanation with what was expected and what came, which is what failure-driven strategies read.
Without rules, the fields are the keys of the expected object, compared with ``exact``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from promptevolve.core.errors import ConfigurationError
from promptevolve.scoring.evaluators.base import Evaluation, Evaluator, require_expected

__all__ = ["FieldRule", "JsonFields", "extract_json_object"]

FieldKind = Literal["exact", "numeric", "set_f1"]
_FENCE = re.compile(r"```(?:json)?", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class FieldRule:
    """How one key of the JSON answer is scored (see the module docstring for the kinds)."""

    name: str
    kind: FieldKind = "exact"
    weight: float = 1.0
    tolerance: float = 0.0
    scale: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in ("exact", "numeric", "set_f1"):
            raise ConfigurationError(f"field {self.name!r}: unknown kind {self.kind!r}")
        if self.weight <= 0 or self.tolerance < 0 or self.scale <= 0:
            raise ConfigurationError(f"field {self.name!r}: weight and scale must be > 0, tolerance >= 0")

    def score(self, got: Any, want: Any) -> float:
        if self.kind == "set_f1":
            return _set_f1(_as_set(got), _as_set(want))
        if self.kind == "numeric":
            g, w = _as_float(got), _as_float(want)
            if g is None or w is None:
                return 0.0
            return max(0.0, 1.0 - max(0.0, abs(g - w) - self.tolerance) / self.scale)
        return 1.0 if _canonical(got) == _canonical(want) else 0.0


def extract_json_object(text: str) -> tuple[dict[str, Any] | None, str | None]:
    """The first JSON object in ``text`` and None, or None and why there is none."""
    cleaned = _FENCE.sub("", text).strip()
    start = cleaned.find("{")
    if start == -1:
        return None, f"no JSON object in the output: {cleaned[:80]!r}"
    try:
        value, _ = json.JSONDecoder().raw_decode(cleaned, start)
    except json.JSONDecodeError as exc:
        return None, f"invalid JSON ({exc.msg} at character {exc.pos}): {cleaned[start : start + 80]!r}"
    if not isinstance(value, dict):
        return None, "the JSON value is not an object"
    return value, None


class JsonFields(Evaluator):
    """Scores a JSON answer field by field; ``rules`` name the fields, ``schema`` is optional."""

    name = "json"

    def __init__(
        self,
        *,
        rules: Sequence[FieldRule | Mapping[str, Any]] = (),
        schema: Mapping[str, Any] | None = None,
        schema_weight: float = 0.0,
    ) -> None:
        self._rules = tuple(r if isinstance(r, FieldRule) else FieldRule(**r) for r in rules)
        if not 0.0 <= schema_weight < 1.0:
            raise ConfigurationError("schema_weight must be in [0, 1)")
        self._validator = _validator(schema) if schema is not None else None
        self._schema_weight = schema_weight if schema is not None else 0.0

    @property
    def rules(self) -> tuple[FieldRule, ...]:
        return self._rules

    def evaluate(
        self,
        *,
        output: str,
        expected: Any = None,
        inputs: Mapping[str, Any] | None = None,
        rubric: str | None = None,
    ) -> Evaluation:
        require_expected(self.name, expected)
        want = expected if isinstance(expected, Mapping) else _expected_object(expected)
        got, error = extract_json_object(output)
        if got is None:
            return Evaluation(0.0, error, parsed=False)
        rules = self._rules or tuple(FieldRule(key) for key in want)
        fields = self.field_scores(got, want)
        total = sum(r.weight for r in rules)
        field_score = sum(fields[r.name] * r.weight for r in rules) / total if total else 1.0
        problems = [_field_problem(r, got, want) for r in rules if fields[r.name] < 1.0]
        schema_ok = True
        if self._validator is not None:
            errors = sorted(self._validator.iter_errors(got), key=lambda e: list(e.path))
            schema_ok = not errors
            problems += [f"schema: {_schema_error(e)}" for e in errors[:3]]
        score = (1 - self._schema_weight) * field_score + self._schema_weight * (1.0 if schema_ok else 0.0)
        return Evaluation(score, "; ".join(problems) or None, fields)

    def field_scores(self, got: Mapping[str, Any], want: Mapping[str, Any]) -> dict[str, float]:
        """Each rule's score in [0, 1] for an answer already parsed (a missing key scores 0): what
        ``evaluate`` weighs, for callers that hold the parsed object (the lead task's graders)."""
        rules = self._rules or tuple(FieldRule(key) for key in want)
        return {r.name: (r.score(got[r.name], want.get(r.name)) if r.name in got else 0.0) for r in rules}

    def describe(self) -> str:
        names = ", ".join(f"{r.name} ({r.kind})" for r in self._rules) or "the expected keys (exact)"
        return f"{self.name}: {names}"


def _validator(schema: Mapping[str, Any]) -> Any:
    try:
        import jsonschema
    except ImportError:  # pragma: no cover - jsonschema is a dependency
        raise ConfigurationError("the json evaluator's schema needs the package jsonschema") from None
    try:
        cls = jsonschema.validators.validator_for(schema)
        cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise ConfigurationError(f"invalid JSON schema: {exc.message}") from None
    return cls(schema)


def _schema_error(error: Any) -> str:
    where = ".".join(str(p) for p in error.path) or "(root)"
    return f"{where}: {error.message[:120]}"


def _expected_object(expected: Any) -> Mapping[str, Any]:
    if isinstance(expected, str):
        value, _ = extract_json_object(expected)
        if value is not None:
            return value
    raise ConfigurationError(f"json evaluator: expected answer {str(expected)[:80]!r} is not a JSON object")


def _field_problem(rule: FieldRule, got: Mapping[str, Any], want: Mapping[str, Any]) -> str:
    expected = json.dumps(want.get(rule.name), ensure_ascii=False)
    if rule.name not in got:
        return f"{rule.name}: missing (expected {expected})"
    return f"{rule.name}: expected {expected}, got {json.dumps(got[rule.name], ensure_ascii=False)[:80]}"


def _canonical(value: Any) -> Any:
    if isinstance(value, str):
        return value.strip().lower()
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return float(value)
    return json.dumps(value, sort_keys=True)


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _as_set(value: Any) -> frozenset[str]:
    if value is None:
        return frozenset()
    items = [value] if isinstance(value, str) else value if isinstance(value, list | tuple) else [value]
    return frozenset(str(v).strip().lower() for v in items if str(v).strip())


def _set_f1(got: frozenset[str], want: frozenset[str]) -> float:
    if not got and not want:
        return 1.0
    hits = len(got & want)
    if hits == 0:
        return 0.0
    precision, recall = hits / len(got), hits / len(want)
    return 2 * precision * recall / (precision + recall)
