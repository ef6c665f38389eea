"""The API's own request and response shapes (``XCreate`` in, ``XPublic`` out).

Where a service already has a public pydantic shape (``VariantCreate``, ``VariantInfo``,
``ExperimentCreate``, ``ExperimentInfo``, ``AnalysisResult``, ``EvolveRequest``, …) the API uses it as it
is, so the HTTP contract and the Python one cannot drift; the models here only cover what HTTP adds:
pagination, the bodies of state changes, the execute/track/feedback calls and evolution jobs.

``PolicyUpdate`` (a partial autopilot policy) is derived from ``autopilot.Policy`` field by field, so a
field added to the policy is accepted by the API without an edit here and the two cannot drift;
``ScoringUpdate`` is derived from ``scoring.ScoringConfig`` the same way.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Generic, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    computed_field,
    create_model,
)

from promptevolve.access import Scope
from promptevolve.api.params import VERSION_PATTERN
from promptevolve.autopilot import (
    AutopilotStatus,
    BudgetStatus,
    DriftPolicy,
    EvolutionPolicy,
    ExperimentPolicy,
    Policy,
    PromptStatus,
    QuietHours,
)
from promptevolve.client import RunResult
from promptevolve.core.storable import refuse_unstorable
from promptevolve.core.types import ModelSettings, TemplateKind
from promptevolve.experiments import ArmResult, GuardrailResult, SrmInfo
from promptevolve.registry import LineageNode
from promptevolve.registry.models import NAME_PATTERN
from promptevolve.scoring import ScoringConfig, Weights

__all__ = [
    "ActivateCreate",
    "ApproveCreate",
    "ArmMetricsPublic",
    "AutopilotPassCreate",
    "AutopilotStatusPublic",
    "BudgetStatusPublic",
    "DatasetPublic",
    "EvaluationCreate",
    "EvolutionCandidatePublic",
    "EvolutionJobPublic",
    "EvolutionProgressPublic",
    "EvolutionRunPublic",
    "ExecutionCreate",
    "ExecutionRecordedPublic",
    "FeedbackCreate",
    "FeedbackRecordedPublic",
    "HealthPublic",
    "JobPublic",
    "LabelCreate",
    "LineagePublic",
    "Page",
    "PolicyUpdate",
    "PromoteCreate",
    "PromptStatusPublic",
    "ReadinessPublic",
    "ReasonCreate",
    "RejectCreate",
    "ResolveCreate",
    "ResolvedPromptPublic",
    "RollbackCreate",
    "RunCreate",
    "RunPublic",
    "ScoringUpdate",
    "SharesCreate",
    "TrendPointPublic",
    "UnreadablePolicyPublic",
    "VariantTrendPublic",
    "WhoAmIPublic",
]

T = TypeVar("T")


Text = str
#: Text written by bulk paths (executions, feedback) that store.guard does not see: a value no database
#: can hold (a NUL; a lone surrogate cannot arrive in strict JSON) is refused here, while the caller
#: can still be told (core.storable).
StoredText = Annotated[str, AfterValidator(refuse_unstorable)]
Messages = list[dict[str, str]]


class Page(BaseModel, Generic[T]):
    """One page of a list. ``next`` is the URL of the following page, ``null`` on the last one."""

    items: list[T]
    total: int | None = Field(description="Items in the whole list; null when counting would cost a scan")
    limit: int
    offset: int
    next: str | None = None


# --- health ---------------------------------------------------------------------------------------


class HealthPublic(BaseModel):
    status: Literal["ok"] = "ok"
    version: str


class ReadinessPublic(BaseModel):
    status: Literal["ready"] = "ready"
    database: Literal["reachable"] = "reachable"
    schema_revision: str = Field(description="The database's schema revision, equal to this version's")


class WhoAmIPublic(BaseModel):
    name: str
    prefix: str
    scopes: list[Scope]


class SessionPublic(BaseModel):
    """A dashboard session: the token (shown once) acts as ``key`` until ``expires_at`` or sign-out."""

    token: str = Field(description="Send as `Authorization: Bearer ps_…`; shown only in this answer")
    expires_at: datetime
    key: WhoAmIPublic


# --- calls ----------------------------------------------------------------------------------------


class RunCreate(BaseModel):
    """Run a prompt as the SDK's ``PromptOptimizer.run`` does: routed, rendered, called, recorded."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"variables": {"x": "a lead"}, "unit_id": "user-42"}]},
    )

    variables: dict[str, Any] = Field(default_factory=dict)
    unit_id: str | None = Field(
        default=None, max_length=200, description="Sticky routing unit (a user, a lead); default: random"
    )
    fallback: Text | Messages | None = Field(
        default=None, description="Template served when the registry cannot serve the prompt"
    )
    fallback_settings: ModelSettings | None = None


class RunPublic(RunResult):
    recorded: bool = Field(
        description="Whether the execution was committed before this response (false: still queued, "
        "e.g. while the store is unreachable; it is written when the store answers)"
    )


class ResolveCreate(BaseModel):
    """Choose the variant for a call the application makes itself (the SDK's ``get_prompt``)."""

    model_config = ConfigDict(extra="forbid")

    unit_id: str | None = Field(default=None, max_length=200)
    variables: dict[str, Any] | None = Field(
        default=None, description="Given: the response carries the rendered messages"
    )
    fallback: Text | Messages | None = None


class ResolvedPromptPublic(BaseModel):
    prompt: str
    version: str | None
    variant_id: int | None
    experiment_id: int | None
    arm: str | None
    unit_id: str | None
    is_fallback: bool
    fallback_reason: str | None
    template_kind: TemplateKind
    variables: list[str] = Field(description="Variables the template declares")
    settings: ModelSettings
    messages: Messages | None = Field(default=None, description="Rendered, when variables were given")


class ExecutionCreate(BaseModel):
    """A model call the application made itself, with the routing it got from ``resolve``."""

    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(pattern=NAME_PATTERN.pattern)
    version: StoredText | None = Field(
        default=None, max_length=64, description="Version used; null for the app's own prompt"
    )
    experiment_id: int | None = Field(default=None, ge=1, le=2_147_483_647)
    arm: StoredText | None = Field(default=None, max_length=64)
    unit_id: StoredText | None = Field(default=None, max_length=200)
    is_fallback: bool = False
    fallback_reason: StoredText | None = Field(default=None, max_length=100)
    variables: dict[str, Any] = Field(default_factory=dict)
    output: StoredText | None = Field(default=None, max_length=1_000_000)
    latency_ms: float | None = Field(default=None, ge=0.0, le=1e9)
    prompt_tokens: int | None = Field(default=None, ge=0, le=2_147_483_647)
    completion_tokens: int | None = Field(default=None, ge=0, le=2_147_483_647)
    model: StoredText | None = Field(default=None, max_length=200)
    error: StoredText | None = Field(default=None, max_length=2000, description="Set when the call failed")


class ExecutionRecordedPublic(BaseModel):
    execution_id: str
    recorded: bool = Field(description="Committed before the response (201); false: still queued (202)")


_FEEDBACK_KINDS = ("thumbs", "rating", "score", "correction")


class FeedbackCreate(BaseModel):
    """Feedback on one execution; give at least one of thumbs, rating, score, correction."""

    # The rule "at least one kind" is checked by the feedback service; the schema states it too.
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "anyOf": [
                {"required": [k], "properties": {k: {"not": {"type": "null"}}}} for k in _FEEDBACK_KINDS
            ],
            "examples": [{"thumbs": True}, {"rating": 4, "comment": "close, but too long"}],
        },
    )

    thumbs: bool | None = None
    rating: int | None = Field(default=None, ge=1, le=5)
    score: float | None = Field(default=None, ge=0.0, le=1.0)
    correction: StoredText | None = Field(default=None, min_length=1, max_length=100_000)
    comment: StoredText | None = Field(default=None, max_length=10_000)
    source: Literal["user", "evaluator", "judge"] = "user"


class FeedbackRecordedPublic(BaseModel):
    execution_id: str
    feedback_ids: list[str]


# --- registry -------------------------------------------------------------------------------------


class ReasonCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=2000, description="Recorded in the audit log")


class ActivateCreate(ReasonCreate):
    share: float | None = Field(
        default=None, gt=0.0, le=100.0, description="Percent; default 100 when it will serve alone"
    )
    exclusive: bool = Field(default=False, description="Deactivate every other variant in the same change")


class SharesCreate(ReasonCreate):
    model_config = ConfigDict(json_schema_extra={"examples": [{"shares": {"1.0.0": 90, "1.1.0": 10}}]})

    shares: dict[str, float] = Field(min_length=1, description="Version → percent (0 deactivates)")


class LabelCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"version": "1.0.0"}]})

    version: str


class RollbackCreate(ReasonCreate):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"version": "1.0.0", "reason": "1.1.0 answers too long"}]}
    )

    version: str = Field(description="The version to serve alone again")


class LineagePublic(BaseModel):
    prompt: str
    version: str | None = Field(description="The variant asked for; null: the whole forest")
    ancestors: list[str] = Field(description="Versions above it, oldest first")
    roots: list[LineageNode]


# --- experiments ----------------------------------------------------------------------------------


class PromoteCreate(ReasonCreate):
    arm: str | None = Field(default=None, description="Arm to promote; default: the winner")


class ArmMetricsPublic(BaseModel):
    experiment_id: int
    metric: str
    status: str
    arms: list[ArmResult]
    guardrails: list[GuardrailResult]
    srm: SrmInfo | None
    at: datetime


# --- metrics --------------------------------------------------------------------------------------


class TrendPointPublic(BaseModel):
    start: datetime
    end: datetime
    executions: int = Field(description="Executions that measure the metric in this bucket")
    mean: float | None
    ci_low: float | None = Field(description="95 % normal interval of the mean (n ≥ 2)")
    ci_high: float | None


class VariantTrendPublic(BaseModel):
    prompt: str
    version: str
    metric: str
    bucket_seconds: float
    since: datetime
    until: datetime
    points: list[TrendPointPublic]


# --- evolution ------------------------------------------------------------------------------------


class EvolutionProgressPublic(BaseModel):
    stage: str = Field(description="search | validation | test | done")
    calls: int
    max_calls: int
    candidates: int
    best: float | None
    message: str


class EvolutionCandidatePublic(BaseModel):
    id: int
    strategy: str
    status: str = Field(description="passed | rejected | untested (the winner) or not_selected")
    child_version: str | None
    rationale: str | None
    train_score: float | None
    validation_score: float | None
    parent_score: float | None
    child_score: float | None
    child_ci_low: float | None
    child_ci_high: float | None
    improvement: float | None
    improvement_ci_low: float | None
    improvement_ci_high: float | None


class EvolutionRunPublic(BaseModel):
    run_id: str
    prompt: str
    parent_version: str
    status: str = Field(description="The winner's gate verdict, else not_selected")
    dataset: str | None
    evaluator: str | None
    calls_spent: int
    tokens_spent: int
    created_at: datetime
    candidates: list[EvolutionCandidatePublic]


class EvolutionJobPublic(BaseModel):
    id: str
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    prompt: str
    dataset: str
    budget: int
    actor: str
    progress: EvolutionProgressPublic | None
    run_id: str | None = Field(description="Set when the run is recorded; see /evolution/runs/{run_id}")
    child_version: str | None
    verdict: str | None = Field(description="passed | rejected | untested | no_candidate")
    experiment_id: int | None = Field(description="The A/B test started by auto_ab, if any")
    note: str | None
    error: str | None
    error_code: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    attempts: int = Field(default=0, description="Attempts started so far")
    max_attempts: int = Field(default=1, description="Attempts it may take before it fails")
    cancel_requested: bool = Field(default=False, description="A cancel was asked; it stops at a checkpoint")


class JobPublic(BaseModel):
    """Any background job: an evaluation, an evolution, an autopilot pass or a webhook delivery."""

    id: str
    kind: str = Field(description="evaluate | evolve | autopilot_pass | webhook")
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    request: dict[str, Any] = Field(description="What was asked (the kind's request)")
    actor: str
    progress: dict[str, Any] | None = Field(description="The kind's progress, e.g. stage, calls, max_calls")
    result: dict[str, Any] | None = Field(description="What it produced, when it succeeded")
    error: str | None = Field(description="Why the last attempt failed (kept while it is retried)")
    error_code: str | None
    attempts: int
    max_attempts: int
    cancel_requested: bool
    retry_at: datetime | None = Field(description="When a queued retry may start (after its backoff)")
    worker: str | None = Field(description="The worker running it (host:pid:id)")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class EvaluationCreate(BaseModel):
    """Score a variant on a split of a dataset, as a background job (what ``promptevolve eval`` does)."""

    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(pattern=NAME_PATTERN.pattern)
    version: str | None = Field(default=None, description="Default: the serving variant")
    dataset: str = Field(min_length=1, max_length=200)
    split: Literal["train", "validation", "test"] = "test"
    evaluator: str | None = Field(default=None, description="Default: the dataset's")
    evaluator_options: dict[str, Any] = Field(default_factory=dict)
    budget: int | None = Field(default=None, ge=1, le=1_000_000, description="Model calls at most")
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    max_items: int | None = Field(default=None, ge=1, le=1_000_000)


class AutopilotPassCreate(BaseModel):
    """One autopilot pass as a background job."""

    model_config = ConfigDict(extra="forbid")

    prompts: list[Annotated[str, StringConstraints(pattern=NAME_PATTERN.pattern)]] | None = Field(
        default=None, max_length=100, description="Default: every prompt with a policy"
    )


class DatasetPublic(BaseModel):
    name: str
    description: str | None
    source: str
    evaluator: str | None
    counts: dict[str, int]
    locales: dict[str, int]
    created_at: datetime


# --- autopilot ------------------------------------------------------------------------------------


def _no_defaults(schema: dict[str, Any]) -> None:
    # A field left out of a partial change keeps its current value: there is no default to document.
    for prop in schema.get("properties", {}).values():
        prop.pop("default", None)


def _partial(
    model: type[BaseModel], name: str, doc: str, replace: dict[str, Any] | None = None
) -> type[BaseModel]:
    """``model`` with every field optional and no defaults: the fields given are the change. Each keeps
    its type and constraints (so null is refused where the policy refuses it); ``replace`` swaps types
    (nested partials). Cross-field checks run on the merged result, in ``update_policy`` or
    ``update_scoring``."""
    replace = replace or {}
    fields: dict[str, Any] = {}
    for field_name, info in model.model_fields.items():
        annotation = replace.get(field_name)
        if annotation is None:
            annotation = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
        fields[field_name] = (annotation, Field(default=None, description=info.description))
    config = ConfigDict(extra="forbid", allow_inf_nan=False, json_schema_extra=_no_defaults)
    return create_model(name, __config__=config, __doc__=doc, **fields)


_NESTED = "Fields not given keep their value."

if TYPE_CHECKING:  # built at import below; to a type checker, a model like any other

    class PolicyUpdate(BaseModel): ...

else:
    PolicyUpdate = _partial(
        Policy,
        "PolicyUpdate",
        "A change to a prompt's autopilot policy: only the fields given change, nested objects merge, "
        "lists replace; a prompt without a policy starts from the defaults. The result is validated whole.",
        {
            "quiet_hours": QuietHours | str | None,  # "22-06" as the CLI takes it, or the object GET shows
            "evolution": _partial(EvolutionPolicy, "EvolutionPolicyUpdate", _NESTED),
            "experiment": _partial(ExperimentPolicy, "ExperimentPolicyUpdate", _NESTED),
            "drift": _partial(DriftPolicy, "DriftPolicyUpdate", _NESTED),
        },
    )


class ApproveCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str = Field(pattern=VERSION_PATTERN, description="The candidate awaiting approval (see status)")


class RejectCreate(ApproveCreate):
    reason: StoredText | None = Field(default=None, max_length=2000, description="Recorded in the log")


class BudgetStatusPublic(BudgetStatus):
    """Today's evolution budget, with what is left (``BudgetStatus``'s properties, serialized)."""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def calls_left(self) -> int:
        return super().calls_left

    @computed_field  # type: ignore[prop-decorator]
    @property
    def tokens_left(self) -> int | None:
        return super().tokens_left


class PromptStatusPublic(PromptStatus):
    budget: BudgetStatusPublic | None = None


class UnreadablePolicyPublic(BaseModel):
    prompt: str
    error: str = Field(description="Why this version cannot read the stored policy (DELETE it, set it again)")


class AutopilotStatusPublic(AutopilotStatus):
    prompts: list[PromptStatusPublic]  # type: ignore[assignment]
    unreadable: list[UnreadablePolicyPublic] = Field(
        default_factory=list, description="Prompts whose stored policy this version cannot read"
    )


# --- scoring --------------------------------------------------------------------------------------

if TYPE_CHECKING:

    class ScoringUpdate(BaseModel): ...

else:
    ScoringUpdate = _partial(
        ScoringConfig,
        "ScoringUpdate",
        "A change to a prompt's scoring: only the fields given change, weights merge one by one, lists "
        "replace; a prompt without a stored scoring starts from the defaults. The result is validated "
        "whole (at least one weight above 0).",
        {"weights": _partial(Weights, "WeightsUpdate", _NESTED)},
    )
