"""Reading executions back: filtered, newest first, with the variant's version and feedback attached."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from promptevolve.core.errors import NotFoundError
from promptevolve.store.engine import Store
from promptevolve.store.tables import Execution, Feedback, Prompt, PromptVariant

__all__ = ["ExecutionFilter", "ExecutionOut", "FeedbackOut", "get_execution", "list_executions"]


class ExecutionFilter(BaseModel):
    prompt: str | None = None
    version: str | None = None
    status: Literal["ok", "fallback", "error"] | None = None
    experiment_id: int | None = None
    since: datetime | None = None
    limit: int = Field(default=50, ge=1, le=10_000)
    offset: int = Field(default=0, ge=0)


class FeedbackOut(BaseModel):
    kind: str
    value: float | None
    text: str | None
    source: str
    at: datetime


class ExecutionOut(BaseModel):
    id: str
    prompt: str | None
    version: str | None
    experiment_id: int | None
    arm: str | None
    status: str
    fallback_reason: str | None
    error_class: str | None
    error_message: str | None
    model: str | None
    latency_ms: float | None
    prompt_tokens: int | None
    completion_tokens: int | None
    cost_usd: float | None
    output: str | None
    variables: dict[str, Any] | None
    source: str
    at: datetime
    feedback: list[FeedbackOut] = Field(default_factory=list)
    repairs: str | None = Field(
        default=None,
        description="What was changed to make the record storable (e.g. 'output: 1 NUL replaced by U+FFFD')",
    )


def _query(s: Session, f: ExecutionFilter) -> Any | None:
    """The page's query, or None when a named prompt or version does not exist (an empty page).

    The prompt and version are resolved to ids first, so the filter is on ``executions`` itself: then
    ``(prompt_id, ts)`` or ``(variant_id, ts)`` read backwards gives the newest rows without sorting
    the prompt's whole history (a join on the names would sort every matching row; 0.3 s at 200k
    executions, seconds at 10M: bench/pg_scale.py).
    """
    q = (
        select(Execution, Prompt.name, PromptVariant.version)
        .outerjoin(Prompt, Prompt.id == Execution.prompt_id)
        .outerjoin(PromptVariant, PromptVariant.id == Execution.variant_id)
    )
    prompt_id = None
    if f.prompt is not None:
        prompt_id = s.scalar(select(Prompt.id).where(Prompt.name == f.prompt))
        if prompt_id is None:
            return None
        q = q.where(Execution.prompt_id == prompt_id)
    if f.version is not None:
        versions = select(PromptVariant.id).where(PromptVariant.version == f.version)
        if prompt_id is not None:
            versions = versions.where(PromptVariant.prompt_id == prompt_id)
        variant_ids = list(s.scalars(versions))
        if not variant_ids:
            return None
        q = q.where(
            Execution.variant_id == variant_ids[0]
            if len(variant_ids) == 1
            else Execution.variant_id.in_(variant_ids)
        )
    if f.status is not None:
        q = q.where(Execution.status == f.status)
    if f.experiment_id is not None:
        q = q.where(Execution.experiment_id == f.experiment_id)
    if f.since is not None:
        q = q.where(Execution.ts >= f.since.timestamp())
    return q.order_by(Execution.ts.desc(), Execution.id.desc()).limit(f.limit).offset(f.offset)


def _out(e: Execution, prompt: str | None, version: str | None, feedback: list[FeedbackOut]) -> ExecutionOut:
    return ExecutionOut(
        id=e.id,
        prompt=prompt,
        version=version,
        experiment_id=e.experiment_id,
        arm=e.arm,
        status=e.status,
        fallback_reason=e.fallback_reason,
        error_class=e.error_class,
        error_message=e.error_message,
        model=e.model,
        latency_ms=e.latency_ms,
        prompt_tokens=e.prompt_tokens,
        completion_tokens=e.completion_tokens,
        cost_usd=e.cost_usd,
        output=e.output,
        variables=e.variables,
        source=e.source,
        at=datetime.fromtimestamp(e.ts, UTC),
        feedback=feedback,
        repairs=e.repairs,
    )


def list_executions(store: Store, f: ExecutionFilter | None = None) -> list[ExecutionOut]:
    f = f or ExecutionFilter()
    with store.read() as s:
        query = _query(s, f)
        rows = s.execute(query).all() if query is not None else []
        ids = [e.id for e, _, _ in rows]
        fb: dict[str, list[FeedbackOut]] = {}
        if ids:
            for row in s.scalars(
                select(Feedback).where(Feedback.execution_id.in_(ids)).order_by(Feedback.ts)
            ):
                fb.setdefault(row.execution_id, []).append(
                    FeedbackOut(
                        kind=row.kind,
                        value=row.value,
                        text=row.text,
                        source=row.source,
                        at=datetime.fromtimestamp(row.ts, UTC),
                    )
                )
        return [_out(e, p, v, fb.get(e.id, [])) for e, p, v in rows]


def get_execution(store: Store, execution_id: str) -> ExecutionOut:
    with store.read() as s:
        row = s.execute(
            select(Execution, Prompt.name, PromptVariant.version)
            .outerjoin(Prompt, Prompt.id == Execution.prompt_id)
            .outerjoin(PromptVariant, PromptVariant.id == Execution.variant_id)
            .where(Execution.id == execution_id)
        ).first()
        if row is None:
            raise NotFoundError(f"unknown execution id {execution_id!r}")
        feedback = [
            FeedbackOut(
                kind=f.kind, value=f.value, text=f.text, source=f.source, at=datetime.fromtimestamp(f.ts, UTC)
            )
            for f in s.scalars(
                select(Feedback).where(Feedback.execution_id == execution_id).order_by(Feedback.ts)
            )
        ]
        return _out(row[0], row[1], row[2], feedback)
