"""Calls: run a prompt over HTTP, resolve a prompt for an app's own call and record that call, feedback,
and the executions recorded.

``run`` is the SDK's ``run`` (routing, rendering, the model, the fallback chain, tracking) in strict
mode: an answer (``ok`` or ``fallback``) is a 200; when nothing could answer, the last error is mapped
like any other (unknown prompt and no fallback → 404, missing variables → 422, the provider → 502/504).
``run`` and ``POST /executions`` answer once their execution is committed, so feedback sent at once to
any server finds it; ``recorded: false`` says the store did not take it in time (it stays queued).
Feedback answers 201 once committed. The commits of concurrent requests are shared (``api.commits``).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from starlette.concurrency import run_in_threadpool

from promptevolve.api.capture import capture
from promptevolve.api.commits import Write
from promptevolve.api.deps import CommitKey, ExecuteKey, PaginationDep, ReadKey, ServicesDep, actor
from promptevolve.api.errors import problem_responses
from promptevolve.api.params import INT32_MAX, ExecutionId, Instant, PromptName, PromptQuery, VersionQuery
from promptevolve.api.schemas import (
    ExecutionCreate,
    ExecutionRecordedPublic,
    FeedbackCreate,
    FeedbackRecordedPublic,
    Page,
    ResolveCreate,
    ResolvedPromptPublic,
    RunCreate,
    RunPublic,
)
from promptevolve.api.services import Services, commit_recorded
from promptevolve.client import PromptHandle
from promptevolve.core.errors import ValidationError
from promptevolve.core.storable import Repairs
from promptevolve.templates import parse_template
from promptevolve.tracking.executions import ExecutionFilter, ExecutionOut, get_execution, list_executions
from promptevolve.tracking.feedback import FeedbackIn, feedback_rows, record_feedback

__all__ = ["router"]

router = APIRouter(tags=["calls"])


_EXTERNAL_TEMPLATE = parse_template("(a prompt of the application's own)")


@router.post(
    "/prompts/{name}/run",
    summary="Run a prompt: routed variant, model call, fallbacks, recorded [execute]",
    responses=problem_responses(401, 403, 404, 422, 502, 503, 504),
)
async def run(name: PromptName, body: RunCreate, services: ServicesDep, key: CommitKey) -> RunPublic:
    with capture() as rows:
        try:
            result = await services.runner.run(
                name,
                body.variables,
                unit_id=body.unit_id,
                fallback=body.fallback,
                fallback_settings=body.fallback_settings,
                strict=True,
            )
        except Exception:
            services.recorder.enqueue_all(rows)  # the failed attempts are recorded, as the SDK does
            raise
    recorded = await commit_recorded(services, rows, key)
    # The answer as stored (core.storable): a lone surrogate a model wrote cannot travel as UTF-8 JSON.
    answer, _ = Repairs().json("answer", dict(result))
    # model_construct: the SDK built and validated every value; FastAPI serialises the model as is.
    return RunPublic.model_construct(**answer, recorded=recorded)


@router.post(
    "/prompts/{name}/resolve",
    summary="Choose the variant for a call the application makes itself [execute]",
    responses=problem_responses(401, 403, 404, 422, 503),
)
def resolve(
    name: PromptName, body: ResolveCreate, services: ServicesDep, key: ExecuteKey
) -> ResolvedPromptPublic:
    handle = services.optimizer.get_prompt(name, unit_id=body.unit_id, fallback=body.fallback)
    return ResolvedPromptPublic(
        prompt=handle.prompt,
        version=handle.version,
        variant_id=handle.variant_id,
        experiment_id=handle.experiment_id,
        arm=handle.arm,
        unit_id=handle.unit_id,
        is_fallback=handle.is_fallback,
        fallback_reason=handle.fallback_reason,
        template_kind=handle.template.kind,
        variables=list(handle.variables),
        settings=handle.settings,
        messages=handle.messages(body.variables) if body.variables is not None else None,
    )


def _handle(services: Services, body: ExecutionCreate) -> PromptHandle:
    plan = services.optimizer.cache.get(body.prompt).value  # the prompt exists (404), and its id
    if body.experiment_id is not None:
        arms = {a.arm for a in services.experiments.get(body.experiment_id).arms}
        if body.arm not in arms:
            known = ", ".join(sorted(arms))
            raise ValidationError(
                f"arm {body.arm!r} is not an arm of experiment {body.experiment_id} ({known})"
            )
    elif body.arm is not None:
        raise ValidationError("an arm needs its experiment_id")
    variant = services.registry.get_variant(body.prompt, body.version) if body.version else None
    return PromptHandle(
        prompt=body.prompt,
        version=variant.version if variant else None,
        variant_id=variant.id if variant else None,
        template=parse_template(variant.template) if variant else _EXTERNAL_TEMPLATE,
        settings=(variant or services.registry.get_variant(body.prompt)).settings,
        experiment_id=body.experiment_id,
        arm=body.arm,
        unit_id=body.unit_id,
        is_fallback=body.is_fallback or variant is None,
        fallback_reason=body.fallback_reason or (None if variant else "external"),
        prompt_id=plan.prompt_id,
    )


@router.post(
    "/executions",
    status_code=201,
    summary="Record a call the application made itself [execute]",
    responses={
        202: {"model": ExecutionRecordedPublic, "description": "Queued, not yet committed"},
        **problem_responses(401, 403, 404, 422, 503),
    },
)
async def track(
    body: ExecutionCreate, services: ServicesDep, key: CommitKey, response: Response
) -> ExecutionRecordedPublic:
    handle = await run_in_threadpool(_handle, services, body)
    with capture() as rows:
        execution_id = services.optimizer.track(
            handle,
            variables=body.variables,
            output=body.output,
            latency_ms=body.latency_ms,
            prompt_tokens=body.prompt_tokens,
            completion_tokens=body.completion_tokens,
            model=body.model,
            error=body.error,
        )
    recorded = await commit_recorded(services, rows, key)
    if not recorded:
        response.status_code = 202
    return ExecutionRecordedPublic(execution_id=execution_id, recorded=recorded)


@router.get(
    "/executions",
    summary="Recorded executions, newest first [read]",
    responses=problem_responses(401, 403, 422),
)
def executions(
    services: ServicesDep,
    key: ReadKey,
    page: PaginationDep,
    prompt: PromptQuery = None,
    version: VersionQuery = None,
    status: Literal["ok", "fallback", "error"] | None = None,
    experiment_id: Annotated[int | None, Query(ge=1, le=INT32_MAX)] = None,
    since: Annotated[Instant | None, Query(description="Only executions from this moment on")] = None,
) -> Page[ExecutionOut]:
    found = list_executions(
        services.store,
        ExecutionFilter(
            prompt=prompt,
            version=version,
            status=status,
            experiment_id=experiment_id,
            since=since,
            limit=page.limit + 1,
            offset=page.offset,
        ),
    )
    return page.page(found[: page.limit], more=len(found) > page.limit)


@router.get(
    "/executions/{execution_id}",
    summary="One execution with its feedback [read]",
    responses=problem_responses(401, 403, 404, 422),
)
def execution(execution_id: ExecutionId, services: ServicesDep, key: ReadKey) -> ExecutionOut:
    return get_execution(services.store, execution_id)


@router.post(
    "/executions/{execution_id}/feedback",
    status_code=201,
    summary="Feedback on an execution: thumbs, rating, score, correction [execute]",
    responses=problem_responses(401, 403, 404, 422, 503),
)
async def feedback(
    execution_id: ExecutionId, body: FeedbackCreate, services: ServicesDep, key: CommitKey
) -> FeedbackRecordedPublic:
    item = FeedbackIn(execution_id=execution_id, created_by=actor(key), **body.model_dump())
    if services.recorder.is_pending(execution_id):
        # Recorded here while the store was down and not written yet: the SDK's path writes it first.
        ids = await run_in_threadpool(record_after_flush, services, item)
    else:
        rows = feedback_rows(item)
        await services.commits.submit(Write([("feedback", r) for r in rows], requires=execution_id, key=key))
        ids = [r["id"] for r in rows]
    return FeedbackRecordedPublic(execution_id=execution_id, feedback_ids=ids)


def record_after_flush(services: Services, item: FeedbackIn) -> list[str]:
    services.recorder.ensure_written(item.execution_id)  # 503 if the store still does not take it
    return record_feedback(services.store, item)
