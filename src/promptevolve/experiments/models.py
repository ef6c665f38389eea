"""The experiments' public shapes: what callers send (``ExperimentCreate``) and what they get back.

Pydantic models, because they cross to the CLI, the API and the SDK unchanged. Shares and ramp steps
are percentages here (what people read and write); the store keeps basis points. Lifts are in the
units of the experiment's test: absolute differences of the metric, or relative ones (0.05 = +5 %)
when ``relative`` is set; ``mde`` and guardrail tolerances are in the same units as their lift.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from promptevolve.core.errors import ValidationError
from promptevolve.experiments.plan import DEFAULT_LADDER
from promptevolve.scoring import metric_spec

__all__ = [
    "DEFAULT_GUARDRAILS",
    "MAX_SAMPLE",
    "AnalysisResult",
    "ArmInfo",
    "ArmResult",
    "DecisionRecord",
    "ExperimentCreate",
    "ExperimentInfo",
    "ExperimentReport",
    "GuardrailResult",
    "GuardrailSpec",
    "LiftInfo",
    "SeriesPoint",
    "SrmInfo",
]


def _known_metric(name: str) -> str:
    try:
        metric_spec(name)
    except ValidationError as exc:
        raise ValueError(str(exc)) from None
    return name


class GuardrailSpec(BaseModel):
    """A metric that must not get worse than control by more than ``tolerance``."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    metric: str
    tolerance: float = Field(ge=0.0, description="Allowed worsening, in lift units (0.05 = 5 % if relative)")
    relative: bool = Field(default=True, description="Tolerance relative to control's mean")

    _check_metric = field_validator("metric")(_known_metric)


#: Latency may grow by 5 %, the error rate by 1 point, the cost by 5 %.
DEFAULT_GUARDRAILS = (
    GuardrailSpec(metric="latency_ms", tolerance=0.05, relative=True),
    GuardrailSpec(metric="error_rate", tolerance=0.01, relative=False),
    GuardrailSpec(metric="cost_usd", tolerance=0.05, relative=True),
)

Procedure = Literal["sequential", "msprt", "fixed", "bayesian"]
#: The largest minimum sample per arm (an integer column; beyond it the MDE is unreachable anyway).
MAX_SAMPLE = 1_000_000_000


class ExperimentCreate(BaseModel):
    """A new experiment between a control version and one or more treatment versions of a prompt."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    prompt: str
    control: str = Field(description="Version of the control variant")
    treatments: list[str] = Field(
        min_length=1, max_length=20, description="Versions of the treatment variants"
    )
    name: str | None = Field(default=None, max_length=200)
    mode: Literal["ab", "bandit"] = "ab"
    shares: list[float] | None = Field(
        default=None, description="Test shares in percent, control first; default: equal shares"
    )
    metric: str = Field(default="composite", description="Primary metric (see `scoring.metrics`)")
    relative: bool = Field(default=False, description="Test the relative lift (mean_b / mean_a − 1)")
    guardrails: list[GuardrailSpec] = Field(default_factory=lambda: list(DEFAULT_GUARDRAILS))
    alpha: float = Field(default=0.05, gt=0.0, lt=0.5)
    guardrail_alpha: float | None = Field(default=None, gt=0.0, lt=0.5, description="Default: alpha")
    mde: float = Field(default=0.05, gt=0.0, description="Minimum detectable effect, in lift units")
    power: float = Field(default=0.8, gt=0.0, lt=1.0)
    min_sample: int | None = Field(
        default=None,
        ge=2,
        le=MAX_SAMPLE,
        description="Units per arm before any decision; default: from power analysis",
    )
    procedure: Procedure = "sequential"
    seed: str | None = Field(default=None, max_length=64, description="Routing seed; default: random")
    ramp: list[float] = Field(
        default_factory=lambda: list(DEFAULT_LADDER),
        description="Safe-rollout ladder in percent; [] for none",
    )
    min_units_per_step: int = Field(default=100, ge=1, description="Units per treatment before a ramp step")
    min_seconds_per_step: float = Field(default=0.0, ge=0.0)
    step_margin: float = Field(
        default=1.5,
        ge=1.0,
        description="A step waits until each guardrail shows harm below margin × tolerance",
    )
    guardrail_min_units: int = Field(
        default=50, ge=2, description="Units per arm before a guardrail can harm"
    )
    srm_grace_s: float = Field(
        default=60.0, ge=0.0, description="Exposures this soon after a share change are left out of SRM"
    )
    sequential_tuning: float | None = Field(default=None, gt=0.0, description="Confidence sequence N*")
    msprt_tau: float | None = Field(default=None, gt=0.0, description="mSPRT mixture sd; default: mde")
    bandit_floor: float = Field(default=0.01, ge=0.0, le=0.5)
    bandit_min_units: int = Field(default=20, ge=2)

    _check_metric = field_validator("metric")(_known_metric)

    @model_validator(mode="after")
    def _consistent(self) -> ExperimentCreate:
        versions = [self.control, *self.treatments]
        if len(set(versions)) != len(versions):
            raise ValueError(f"control and treatments must be different versions, got {versions}")
        if self.shares is not None:
            if len(self.shares) != len(versions):
                raise ValueError(f"give {len(versions)} shares (control first), got {len(self.shares)}")
            if any(not s > 0 for s in self.shares) or not math.isclose(sum(self.shares), 100.0, abs_tol=1e-6):
                raise ValueError(f"shares must be above 0 and sum to 100 %, got {self.shares}")
        if any(not 0 < r <= 100 for r in self.ramp) or any(
            a >= b for a, b in zip(self.ramp, self.ramp[1:], strict=False)
        ):
            raise ValueError(f"ramp steps must increase strictly within (0, 100] %, got {self.ramp}")
        metrics = [g.metric for g in self.guardrails]
        if len(set(metrics)) != len(metrics):
            raise ValueError(f"each guardrail metric may appear once, got {metrics}")
        return self


class ArmInfo(BaseModel):
    arm: str
    version: str
    variant_id: int
    share: float = Field(description="Current traffic share in percent")
    is_control: bool


class ExperimentInfo(BaseModel):
    id: int
    name: str
    prompt: str
    mode: str
    status: str
    metric: str
    relative: bool
    procedure: str
    alpha: float
    mde: float
    power: float
    min_sample: int
    min_sample_source: str
    seed: str
    ramp: list[float] = Field(description="Safe-rollout ladder in percent")
    ramp_step: int | None
    guardrails: list[GuardrailSpec]
    arms: list[ArmInfo]
    winner: str | None = Field(description="Version of the winner, once promoted or ramping")
    created_by: str | None
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None


class LiftInfo(BaseModel):
    """Treatment against control at this look, and the always-valid bounds over all looks."""

    status: str = Field(description="ok, or why the data cannot be compared yet")
    estimate: float | None
    ci_low: float | None = Field(description="Running (always-valid) interval, at alpha / treatments")
    ci_high: float | None
    p_value: float | None = Field(description="Running minimum p-value of 'better', Holm-adjusted")
    chance_to_win: float | None = None
    looks: int


class GuardrailResult(BaseModel):
    metric: str
    arm: str
    control_mean: float | None
    mean: float | None
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    p_harm: float | None = Field(description="Always-valid p of 'worse beyond tolerance', Holm-adjusted")
    tolerance: float
    relative: bool
    harmed: bool


class ArmResult(BaseModel):
    arm: str
    version: str
    is_control: bool
    share: float
    exposed: int = Field(description="Units exposed since the current shares took effect")
    units: int = Field(description="Units measured on the primary metric")
    executions: int
    mean: float | None
    coverage: float | None = Field(default=None, description="Mean composite coverage, composite only")
    lift: LiftInfo | None = None
    probability_best: float | None = Field(default=None, description="Bandit: P(arm is best)")


class SrmInfo(BaseModel):
    p_value: float
    statistic: float | None
    counts: dict[str, int]
    expected_shares: dict[str, float]
    blocks: bool


class AnalysisResult(BaseModel):
    experiment: ExperimentInfo
    verdict: str
    reason: str
    applied: bool = Field(description="Whether this analysis changed the experiment")
    actions: list[str] = Field(description="Actions written to the decision log by this analysis")
    arms: list[ArmResult]
    guardrails: list[GuardrailResult]
    srm: SrmInfo | None
    at: datetime


class DecisionRecord(BaseModel):
    id: int
    experiment_id: int | None
    action: str
    reason: str
    figures: dict[str, Any]
    actor: str | None
    at: datetime


class SeriesPoint(BaseModel):
    """The lift of one treatment for the units that entered up to ``at`` (cohort-cumulative)."""

    arm: str
    at: float = Field(description="End of the time bucket, epoch seconds")
    units_control: int
    units: int
    estimate: float | None
    ci_low: float | None
    ci_high: float | None


class ExperimentReport(BaseModel):
    analysis: AnalysisResult
    series: list[SeriesPoint]
    series_start: float | None = Field(description="Start of the series' time axis, epoch seconds")
    series_note: str
    decisions: list[DecisionRecord]
