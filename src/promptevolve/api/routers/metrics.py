"""Metrics: one variant over time (buckets summed in SQL) and an experiment's arms at this moment."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query

from promptevolve.api.deps import ReadKey, ServicesDep
from promptevolve.api.errors import problem_responses
from promptevolve.api.params import Instant, PromptName, Version
from promptevolve.api.routers.experiments import ExperimentId
from promptevolve.api.schemas import ArmMetricsPublic, TrendPointPublic, VariantTrendPublic
from promptevolve.experiments import trend

__all__ = ["router"]

router = APIRouter(prefix="/metrics", tags=["metrics"])

_READ = problem_responses(401, 403, 404, 422)
_DAY = 86_400.0

Metric = Annotated[
    str,
    Query(
        pattern=r"^[A-Za-z0-9_:.\-]{1,100}$",
        description="composite, accuracy, latency_ms, error_rate, thumbs, rating, …, or score:NAME",
    ),
]


def _instant(epoch_s: float) -> datetime:
    return datetime.fromtimestamp(epoch_s, UTC)


def _epoch(value: datetime | None, default: float) -> float:
    return value.timestamp() if value is not None else default


@router.get(
    "/prompts/{name}/variants/{version}",
    summary="A variant's metric per time bucket: executions, mean, 95 % interval [read]",
    responses=_READ,
)
def variant_trend(
    name: PromptName,
    version: Version,
    services: ServicesDep,
    key: ReadKey,
    metric: Metric = "composite",
    since: Annotated[Instant | None, Query(description="Default: 24 h before until")] = None,
    until: Annotated[Instant | None, Query(description="Default: now")] = None,
    buckets: Annotated[int, Query(ge=1, le=500)] = 24,
) -> VariantTrendPublic:
    end = _epoch(until, time.time())
    found = trend.variant_trend(
        services.store,
        name,
        version,
        metric=metric,
        since=_epoch(since, end - _DAY),
        until=end,
        buckets=buckets,
    )
    return VariantTrendPublic(
        prompt=found.prompt,
        version=found.version,
        metric=found.metric,
        bucket_seconds=found.bucket_seconds,
        since=_instant(found.since),
        until=_instant(found.until),
        points=[
            TrendPointPublic(
                start=_instant(p.start),
                end=_instant(p.end),
                executions=p.executions,
                mean=p.mean,
                ci_low=p.ci_low,
                ci_high=p.ci_high,
            )
            for p in found.points
        ],
    )


@router.get(
    "/experiments/{experiment_id}",
    summary="Per-arm results of an experiment now: units, mean, lift, guardrails, SRM [read]",
    responses=_READ,
)
def experiment_arms(experiment_id: ExperimentId, services: ServicesDep, key: ReadKey) -> ArmMetricsPublic:
    result = services.experiments.analyze(experiment_id, apply=False)
    return ArmMetricsPublic(
        experiment_id=experiment_id,
        metric=result.experiment.metric,
        status=result.experiment.status,
        arms=result.arms,
        guardrails=result.guardrails,
        srm=result.srm,
        at=result.at,
    )
