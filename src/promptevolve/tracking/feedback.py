"""Feedback and scores, linked to execution ids, written synchronously and validated.

Unlike executions, feedback is written at once (it is rare, and a caller wants to know it landed): one
transaction per call, all kinds of one call together or none. Feedback on an unknown execution id is a
``NotFoundError`` naming the id. Values are normalised on the way in so analysis never guesses:
thumbs → 1.0 / 0.0, rating → 1…5 as given, score → [0, 1], correction → text (a gold label).
Text no database can hold (a NUL, a lone surrogate) is refused, not repaired: a correction is a gold
label, and changing it silently would change what evaluation compares (``core.storable``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from promptevolve.core.errors import NotFoundError, ValidationError
from promptevolve.core.hashing import canonical_json, sha256_hex
from promptevolve.core.ids import new_id
from promptevolve.core.storable import refuse_unstorable
from promptevolve.store.engine import Store
from promptevolve.store.tables import Execution, Feedback, Score

__all__ = [
    "FEEDBACK_KINDS",
    "FeedbackIn",
    "existing_execution_ids",
    "feedback_rows",
    "import_key",
    "record_feedback",
    "record_feedback_many",
    "record_feedback_once",
    "record_scores",
    "unknown_execution",
]

FEEDBACK_KINDS = ("thumbs", "rating", "score", "correction")


class FeedbackIn(BaseModel):
    """Feedback on one execution; give at least one of thumbs, rating, score, correction."""

    model_config = ConfigDict(extra="forbid")

    execution_id: str = Field(min_length=1, max_length=64)
    thumbs: bool | None = Field(default=None, description="Thumbs up (true) or down (false)")
    rating: int | None = Field(default=None, ge=1, le=5, description="A 1–5 rating")
    score: float | None = Field(default=None, ge=0.0, le=1.0, description="A score in [0, 1]")
    correction: str | None = Field(
        default=None, min_length=1, max_length=100_000, description="The right output: becomes a gold label"
    )
    comment: str | None = Field(default=None, max_length=10_000)
    source: Literal["user", "evaluator", "judge"] = "user"
    created_by: str | None = Field(default=None, max_length=200)

    _storable = field_validator("correction", "comment", "created_by")(refuse_unstorable)

    @classmethod
    def checked(cls, **fields: Any) -> FeedbackIn:
        """Validated feedback, or the library's ``ValidationError`` naming each bad field (for the SDK,
        whose callers catch one exception tree, not pydantic's)."""
        try:
            return cls(**fields)
        except pydantic.ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'feedback'}: {e['msg']}" for e in exc.errors()
            )
            raise ValidationError(f"invalid feedback: {problems}") from None

    @model_validator(mode="after")
    def _something_given(self) -> FeedbackIn:
        if self.thumbs is None and self.rating is None and self.score is None and self.correction is None:
            raise ValueError("give at least one of thumbs, rating, score or correction")
        return self

    def rows(self) -> list[tuple[str, float | None, str | None]]:
        out: list[tuple[str, float | None, str | None]] = []
        if self.thumbs is not None:
            out.append(("thumbs", 1.0 if self.thumbs else 0.0, self.comment))
        if self.rating is not None:
            out.append(("rating", float(self.rating), self.comment))
        if self.score is not None:
            out.append(("score", float(self.score), self.comment))
        if self.correction is not None:
            out.append(("correction", None, self.correction))
        return out


def feedback_rows(feedback: FeedbackIn, *, ts: float | None = None) -> list[dict[str, Any]]:
    """The ``feedback`` table's rows for ``feedback``, one a kind given, with new ids. Writing them is the
    caller's (in one transaction that checks the execution exists, as ``record_feedback`` does)."""
    now = time.time() if ts is None else ts
    return [
        {
            "id": new_id(),
            "execution_id": feedback.execution_id,
            "kind": kind,
            "value": value,
            "text": text,
            "source": feedback.source,
            "created_by": feedback.created_by,
            "ts": now,
        }
        for kind, value, text in feedback.rows()
    ]


def unknown_execution(execution_id: str) -> NotFoundError:
    """The error for feedback that names no recorded execution."""
    return NotFoundError(f"unknown execution id {execution_id!r}: feedback must name a recorded execution")


def record_feedback(store: Store, feedback: FeedbackIn, *, ts: float | None = None) -> list[str]:
    """Store every kind given in one transaction; returns the new feedback ids."""
    rows = feedback_rows(feedback, ts=ts)
    with store.write() as s:
        if s.scalar(select(Execution.id).where(Execution.id == feedback.execution_id)) is None:
            raise unknown_execution(feedback.execution_id)
        s.add_all(Feedback(**row) for row in rows)
    return [row["id"] for row in rows]


def record_scores(
    store: Store,
    execution_id: str,
    scores: Mapping[str, float],
    *,
    details: Mapping[str, str] | None = None,
    ts: float | None = None,
) -> list[str]:
    """Store metric scores (each in [0, 1]) of one execution in one transaction."""
    for metric, value in scores.items():
        if not 0.0 <= float(value) <= 1.0:
            raise ValidationError(f"score {metric}={value} is outside [0, 1]")
    now = time.time() if ts is None else ts
    with store.write() as s:
        if s.scalar(select(Execution.id).where(Execution.id == execution_id)) is None:
            raise NotFoundError(f"unknown execution id {execution_id!r}")
        ids = []
        for metric, value in scores.items():
            sid = new_id()
            s.add(
                Score(
                    id=sid,
                    execution_id=execution_id,
                    metric=metric,
                    value=float(value),
                    detail=(details or {}).get(metric),
                    ts=now,
                )
            )
            ids.append(sid)
    return ids


def existing_execution_ids(store: Store, ids: Sequence[str]) -> set[str]:
    """Which of ``ids`` are stored (for imports that validate many rows at once)."""
    found: set[str] = set()
    with store.read() as s:
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            found.update(s.scalars(select(Execution.id).where(Execution.id.in_(chunk))))
    return found


def record_feedback_many(store: Store, items: Sequence[FeedbackIn], *, ts: float | None = None) -> int:
    """Store many validated feedback items in one transaction (ids must exist: check them first)."""
    now = time.time() if ts is None else ts
    count = 0
    with store.write() as s:
        for item in items:
            rows = feedback_rows(item, ts=now)
            s.add_all(Feedback(**row) for row in rows)
            count += len(rows)
    return count


def import_key(item: FeedbackIn, kind: str) -> str:
    """The key of one imported feedback item: its row's validated content and its kind, hashed."""
    return sha256_hex(canonical_json([item.model_dump(mode="json"), kind]))


def record_feedback_once(
    store: Store, items: Sequence[FeedbackIn], *, ts: float | None = None
) -> tuple[int, int]:
    """Store imported feedback keyed by content (``import_key``), skipping what is already stored, in
    one transaction; returns (feedback rows written, items that wrote any). Ids must exist: check them
    first. ``ON CONFLICT DO NOTHING`` on the unique key keeps concurrent imports of one file from
    storing a row twice."""
    now = time.time() if ts is None else ts
    rows: dict[str, dict[str, Any]] = {}  # by key: the first of repeated rows wins
    owner: dict[str, int] = {}
    for n, item in enumerate(items):
        for row in feedback_rows(item, ts=now):
            key = import_key(item, row["kind"])
            if key not in rows:
                owner[key] = n
                rows[key] = {**row, "import_key": key}
    written: set[str] = set()
    values = list(rows.values())
    with store.write() as s:
        insert = postgresql_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert
        for start in range(0, len(values), 500):
            stmt = (
                insert(Feedback)
                .values(values[start : start + 500])
                .on_conflict_do_nothing(index_elements=["import_key"])
                .returning(Feedback.import_key)
            )
            written.update(k for k in s.scalars(stmt) if k is not None)
    return len(written), len({owner[k] for k in written})
