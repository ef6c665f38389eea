"""The schema: SQLAlchemy 2 tables for every record of DESIGN.md ("The data").

Two families of tables, stored differently on purpose:

- **control tables** (prompts, variants, state, labels, audit, experiments, evolutions, datasets, keys)
  are small and read by people: their times are timezone-aware UTC timestamps;
- **telemetry tables** (executions, exposures, feedback, scores) take production traffic: their times
  are float seconds since the epoch (fast to write in bulk on both databases, and trivial to bucket in
  SQL for trends), and their ids are time-ordered hex strings made by the client, so the SDK can hand an
  execution id back before the batch writer has stored the row.

Variant content is immutable (nothing updates ``prompt_variants``); what changes is state
(``variant_state``, ``prompt_labels``), and every change of state is written to ``audit_log``.
Traffic shares are stored in basis points (1/100 of a percent) so sums are exact integers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "ApiKey",
    "AuditEntry",
    "Base",
    "Dataset",
    "DatasetItem",
    "Decision",
    "Evolution",
    "Execution",
    "Experiment",
    "ExperimentArm",
    "Exposure",
    "Feedback",
    "Prompt",
    "PromptLabel",
    "PromptVariant",
    "Rollup",
    "RollupArm",
    "RollupChange",
    "RollupMinute",
    "RollupUnit",
    "Score",
    "UTCDateTime",
    "VariantState",
    "utcnow",
]

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that always comes back timezone-aware in UTC, on SQLite as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


# --- registry -------------------------------------------------------------------------------------


class Prompt(Base):
    __tablename__ = "prompts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    locale: Mapped[str | None] = mapped_column(String(20))
    # Per-prompt configuration (composite score weights, target latency, autopilot policy, …).
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PromptVariant(Base):
    __tablename__ = "prompt_variants"
    __table_args__ = (
        UniqueConstraint("prompt_id", "version", name="uq_prompt_variants_prompt_version"),
        UniqueConstraint("prompt_id", "content_hash", name="uq_prompt_variants_prompt_content"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    prompt_id: Mapped[int] = mapped_column(ForeignKey("prompts.id", ondelete="CASCADE"), index=True)
    version: Mapped[str] = mapped_column(String(64))
    major: Mapped[int] = mapped_column(Integer)
    minor: Mapped[int] = mapped_column(Integer)
    patch: Mapped[int] = mapped_column(Integer)
    variant_key: Mapped[str] = mapped_column(String(32))
    content_hash: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(20))
    template_kind: Mapped[str] = mapped_column(String(10))
    template: Mapped[Any] = mapped_column(JSON)
    variables: Mapped[list[Any]] = mapped_column(JSON)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)
    strategy: Mapped[str | None] = mapped_column(String(100))
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("prompt_variants.id", ondelete="RESTRICT"), index=True
    )
    rationale: Mapped[str | None] = mapped_column(Text)
    # Free-form facts about how the variant came to be (evolution evidence, scores, calls spent).
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class VariantState(Base):
    __tablename__ = "variant_state"

    variant_id: Mapped[int] = mapped_column(
        ForeignKey("prompt_variants.id", ondelete="CASCADE"), primary_key=True
    )
    prompt_id: Mapped[int] = mapped_column(ForeignKey("prompts.id", ondelete="CASCADE"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    share_bp: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(200))


class PromptLabel(Base):
    """A label (``production``, ``staging``, any) points at one variant of a prompt."""

    __tablename__ = "prompt_labels"

    prompt_id: Mapped[int] = mapped_column(ForeignKey("prompts.id", ondelete="CASCADE"), primary_key=True)
    label: Mapped[str] = mapped_column(String(100), primary_key=True)
    variant_id: Mapped[int] = mapped_column(ForeignKey("prompt_variants.id", ondelete="CASCADE"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    prompt_id: Mapped[int] = mapped_column(ForeignKey("prompts.id", ondelete="CASCADE"), index=True)
    variant_id: Mapped[int | None] = mapped_column(ForeignKey("prompt_variants.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(50))
    actor: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    at: Mapped[datetime] = mapped_column(default=utcnow)


# --- telemetry ------------------------------------------------------------------------------------


class Execution(Base):
    """One model call served through the layer (the seed's prompt_performance)."""

    __tablename__ = "executions"
    __table_args__ = (
        Index("ix_executions_variant_ts", "variant_id", "ts"),
        # Partial (migration 0004): rows served outside an experiment, most of them, cost no insert here.
        Index(
            "ix_executions_experiment_arm",
            "experiment_id",
            "arm",
            postgresql_where=text("experiment_id IS NOT NULL"),
            sqlite_where=text("experiment_id IS NOT NULL"),
        ),
        Index("ix_executions_prompt_ts", "prompt_id", "ts"),
        # Migration 0006: the newest executions, across prompts or in one experiment, without a sort.
        Index("ix_executions_ts", "ts"),
        Index(
            "ix_executions_experiment_ts",
            "experiment_id",
            "ts",
            postgresql_where=text("experiment_id IS NOT NULL"),
            sqlite_where=text("experiment_id IS NOT NULL"),
        ),
        # Migration 0009: a rollup refresh recomputes the units whose calls changed, by unit.
        Index(
            "ix_executions_experiment_unit",
            "experiment_id",
            "unit_hash",
            postgresql_where=text("experiment_id IS NOT NULL"),
            sqlite_where=text("experiment_id IS NOT NULL"),
        ),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # No foreign keys on the telemetry tables (migration 0003): per-row referential checks cost PostgreSQL
    # 40 % of its ingest rate, and only the SDK writes these ids, after resolving them from the registry.
    prompt_id: Mapped[int | None] = mapped_column(Integer)
    variant_id: Mapped[int | None] = mapped_column(Integer)
    experiment_id: Mapped[int | None] = mapped_column(Integer)
    arm: Mapped[str | None] = mapped_column(String(64))
    unit_hash: Mapped[str | None] = mapped_column(String(64))
    variables_hash: Mapped[str | None] = mapped_column(String(64))
    variables: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    output: Mapped[str | None] = mapped_column(Text)
    model: Mapped[str | None] = mapped_column(String(200))
    latency_ms: Mapped[float | None] = mapped_column(Double)
    prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    completion_tokens: Mapped[int | None] = mapped_column(Integer)
    cost_usd: Mapped[float | None] = mapped_column(Double)
    status: Mapped[str] = mapped_column(String(16))
    fallback_reason: Mapped[str | None] = mapped_column(String(100))
    error_class: Mapped[str | None] = mapped_column(String(200))
    error_message: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16), default="run")
    ts: Mapped[float] = mapped_column(Double)
    # What was changed to make the record storable (NUL, lone surrogates…; core.storable), or NULL.
    repairs: Mapped[str | None] = mapped_column(Text)


class Exposure(Base):
    """A unit assigned to an experiment arm: the denominator of sample-ratio checks."""

    __tablename__ = "exposures"
    __table_args__ = (Index("ix_exposures_experiment_arm", "experiment_id", "arm"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    experiment_id: Mapped[int] = mapped_column(Integer)
    arm: Mapped[str] = mapped_column(String(64))
    variant_id: Mapped[int | None] = mapped_column(Integer)
    unit_hash: Mapped[str | None] = mapped_column(String(64))
    ts: Mapped[float] = mapped_column(Double)


class Feedback(Base):
    __tablename__ = "feedback"
    # Imports key each item by its row's content, so importing a file twice stores it once (0007).
    __table_args__ = (Index("uq_feedback_import_key", "import_key", unique=True),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    execution_id: Mapped[str] = mapped_column(ForeignKey("executions.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # thumbs | rating | score | correction
    value: Mapped[float | None] = mapped_column(Double)
    text: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16), default="user")  # user | evaluator | judge
    created_by: Mapped[str | None] = mapped_column(String(200))
    ts: Mapped[float] = mapped_column(Double)
    import_key: Mapped[str | None] = mapped_column(String(64))


class Score(Base):
    __tablename__ = "scores"
    __table_args__ = (Index("ix_scores_execution_metric", "execution_id", "metric"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    execution_id: Mapped[str] = mapped_column(ForeignKey("executions.id", ondelete="CASCADE"))
    metric: Mapped[str] = mapped_column(String(100))
    value: Mapped[float] = mapped_column(Double)
    detail: Mapped[str | None] = mapped_column(Text)
    ts: Mapped[float] = mapped_column(Double)


# --- rollups (migration 0009; maintained by experiments.rollups) ----------------------------------


class Rollup(Base):
    """One maintained aggregate: an experiment's per-arm sums of a metric since a time (``arm``), its
    exposed units since a time (``exposure``), or a variant's per-minute sums of a metric (``trend``).
    ``key`` is a hash of what defines it (kind, ids, metric, scoring configuration, since)."""

    __tablename__ = "rollups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(12))  # arm | exposure | trend
    experiment_id: Mapped[int | None] = mapped_column(Integer, index=True)
    variant_id: Mapped[int | None] = mapped_column(Integer, index=True)
    metric: Mapped[str | None] = mapped_column(String(100))
    config: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    since: Mapped[float | None] = mapped_column(Double)
    built_at: Mapped[float] = mapped_column(Double)
    read_at: Mapped[float] = mapped_column(Double)


class RollupChange(Base):
    """What a rollup refresh must recompute, written by triggers on the telemetry tables (migration
    0009) for rows that a rollup covers; consumed (deleted) by the refresh."""

    __tablename__ = "rollup_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(1))  # e: an execution's value may have changed; x: exposure
    experiment_id: Mapped[int | None] = mapped_column(Integer)
    arm: Mapped[str | None] = mapped_column(String(64))
    unit: Mapped[str | None] = mapped_column(String(64))
    variant_id: Mapped[int | None] = mapped_column(Integer)
    ts: Mapped[float | None] = mapped_column(Double)


class RollupUnit(Base):
    """One unit's totals in one arm: x = Σv, z = calls (exposures for ``exposure``), Σv², first call."""

    __tablename__ = "rollup_units"

    rollup_id: Mapped[int] = mapped_column(ForeignKey("rollups.id", ondelete="CASCADE"), primary_key=True)
    unit: Mapped[str] = mapped_column(String(64), primary_key=True)  # before arm: refreshes look units up
    arm: Mapped[str] = mapped_column(String(64), primary_key=True)
    x: Mapped[float] = mapped_column(Double)
    z: Mapped[int] = mapped_column(Integer)
    y2: Mapped[float] = mapped_column(Double)
    first: Mapped[float] = mapped_column(Double)


class RollupArm(Base):
    """An arm's two-level sums over its units (``experiments.sums.ArmSums``), kept by adding deltas."""

    __tablename__ = "rollup_arms"

    rollup_id: Mapped[int] = mapped_column(ForeignKey("rollups.id", ondelete="CASCADE"), primary_key=True)
    arm: Mapped[str] = mapped_column(String(64), primary_key=True)
    units: Mapped[int] = mapped_column(Integer)
    sum_x: Mapped[float] = mapped_column(Double)
    sum_z: Mapped[float] = mapped_column(Double)
    sum_x2: Mapped[float] = mapped_column(Double)
    sum_z2: Mapped[float] = mapped_column(Double)
    sum_xz: Mapped[float] = mapped_column(Double)
    sum_y2: Mapped[float] = mapped_column(Double)


class RollupMinute(Base):
    """A variant's calls that measure a metric in one minute (``floor(ts / 60)``): n, Σv, Σv²."""

    __tablename__ = "rollup_minutes"

    rollup_id: Mapped[int] = mapped_column(ForeignKey("rollups.id", ondelete="CASCADE"), primary_key=True)
    minute: Mapped[int] = mapped_column(Integer, primary_key=True)
    n: Mapped[int] = mapped_column(Integer)
    sum_v: Mapped[float] = mapped_column(Double)
    sum_v2: Mapped[float] = mapped_column(Double)


# --- experiments ----------------------------------------------------------------------------------


class Experiment(Base):
    """An A/B test or bandit between variants of one prompt (the seed's prompt_ab_tests)."""

    __tablename__ = "experiments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    prompt_id: Mapped[int] = mapped_column(ForeignKey("prompts.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    mode: Mapped[str] = mapped_column(String(16), default="ab")  # ab | bandit
    status: Mapped[str] = mapped_column(String(20), default="draft")
    primary_metric: Mapped[str] = mapped_column(String(100), default="composite")
    guardrails: Mapped[list[Any]] = mapped_column(JSON, default=list)
    alpha: Mapped[float] = mapped_column(Double, default=0.05)
    mde: Mapped[float | None] = mapped_column(Double)
    power: Mapped[float] = mapped_column(Double, default=0.8)
    min_sample: Mapped[int | None] = mapped_column(Integer)
    procedure: Mapped[str] = mapped_column(String(30), default="sequential")
    seed: Mapped[str] = mapped_column(String(64))
    ramp_step: Mapped[int | None] = mapped_column(Integer)
    winner_variant_id: Mapped[int | None] = mapped_column(ForeignKey("prompt_variants.id"))
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column()
    ended_at: Mapped[datetime | None] = mapped_column()


class ExperimentArm(Base):
    __tablename__ = "experiment_arms"

    experiment_id: Mapped[int] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True
    )
    arm: Mapped[str] = mapped_column(String(64), primary_key=True)
    variant_id: Mapped[int] = mapped_column(ForeignKey("prompt_variants.id"))
    share_bp: Mapped[int] = mapped_column(Integer)
    is_control: Mapped[bool] = mapped_column(Boolean, default=False)


class Decision(Base):
    """The decision log: every automatic or manual decision with its reason and figures."""

    __tablename__ = "decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    prompt_id: Mapped[int] = mapped_column(ForeignKey("prompts.id", ondelete="CASCADE"), index=True)
    experiment_id: Mapped[int | None] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), index=True
    )
    action: Mapped[str] = mapped_column(String(50))
    reason: Mapped[str] = mapped_column(Text)
    figures: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    actor: Mapped[str | None] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(default=utcnow)


# --- evolution and datasets -----------------------------------------------------------------------


class Evolution(Base):
    """One candidate proposed by evolution (the seed's prompt_evolution)."""

    __tablename__ = "evolutions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    prompt_id: Mapped[int] = mapped_column(ForeignKey("prompts.id", ondelete="CASCADE"), index=True)
    run_id: Mapped[str | None] = mapped_column(String(32), index=True)
    parent_variant_id: Mapped[int] = mapped_column(ForeignKey("prompt_variants.id"))
    child_variant_id: Mapped[int | None] = mapped_column(ForeignKey("prompt_variants.id"))
    strategy: Mapped[str] = mapped_column(String(100))
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    calls_spent: Mapped[int] = mapped_column(Integer, default=0)
    tokens_spent: Mapped[int] = mapped_column(Integer, default=0)
    parent_score: Mapped[float | None] = mapped_column(Double)
    parent_ci_low: Mapped[float | None] = mapped_column(Double)
    parent_ci_high: Mapped[float | None] = mapped_column(Double)
    child_score: Mapped[float | None] = mapped_column(Double)
    child_ci_low: Mapped[float | None] = mapped_column(Double)
    child_ci_high: Mapped[float | None] = mapped_column(Double)
    improvement: Mapped[float | None] = mapped_column(Double)
    improvement_ci_low: Mapped[float | None] = mapped_column(Double)
    improvement_ci_high: Mapped[float | None] = mapped_column(Double)
    status: Mapped[str] = mapped_column(String(20), default="proposed")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Dataset(Base):
    __tablename__ = "datasets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(20), default="file")  # file | production
    seed: Mapped[int] = mapped_column(Integer, default=0)
    split: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DatasetItem(Base):
    __tablename__ = "dataset_items"
    __table_args__ = (UniqueConstraint("dataset_id", "item_key", name="uq_dataset_items_dataset_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), index=True)
    item_key: Mapped[str] = mapped_column(String(200))
    split: Mapped[str] = mapped_column(String(12))  # train | validation | test
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON)
    expected: Mapped[Any | None] = mapped_column(JSON)
    rubric: Mapped[str | None] = mapped_column(Text)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(128))
    scopes: Mapped[list[Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()


class SessionToken(Base):
    """A signed-in dashboard session: the SHA-256 of a random token, the key it acts for, when it ends.
    The token itself lives only in the browser's cookie (see ``access.sessions``)."""

    __tablename__ = "session_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()


# --- autopilot ------------------------------------------------------------------------------------


class AutopilotLease(Base):
    """The autopilot's lock on one prompt: one holder at a time, until ``expires_at`` (epoch seconds,
    compared in SQL like the telemetry times) unless renewed; a crashed holder's lease simply expires."""

    __tablename__ = "autopilot_leases"

    prompt_id: Mapped[int] = mapped_column(ForeignKey("prompts.id", ondelete="CASCADE"), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    phase: Mapped[str | None] = mapped_column(String(40))
    acquired_at: Mapped[float] = mapped_column(Double)
    expires_at: Mapped[float] = mapped_column(Double)


class AutopilotBudget(Base):
    """The autopilot's evolution spend per prompt and day (the policy's time zone): calls and tokens
    spent plus those reserved by a round still running, so a daily limit holds across processes."""

    __tablename__ = "autopilot_budget"

    prompt_id: Mapped[int] = mapped_column(ForeignKey("prompts.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    calls: Mapped[int] = mapped_column(Integer, default=0)
    tokens: Mapped[int] = mapped_column(Integer, default=0)
    rounds: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class AutopilotDrift(Base):
    """The drift detector's state for the variant serving a prompt (reference level, CUSUM sums, the
    last execution consumed, a pending alarm): the detector itself is pure code in ``autopilot.drift``."""

    __tablename__ = "autopilot_drift"

    prompt_id: Mapped[int] = mapped_column(ForeignKey("prompts.id", ondelete="CASCADE"), primary_key=True)
    variant_id: Mapped[int | None] = mapped_column(ForeignKey("prompt_variants.id", ondelete="SET NULL"))
    state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class AutopilotCandidate(Base):
    """A variant an autopilot round produced, and where it stands (``autopilot.candidates``): gated,
    failed_gate, approved, testing (``experiment_id``), rejected or stale. Changed only together with the
    decision-log entry that says why (``decision_id`` proposed it, ``changed_by`` last moved it), in one
    transaction; the log stays the people's record, this table is what the autopilot reads."""

    __tablename__ = "autopilot_candidates"
    __table_args__ = (Index("ix_autopilot_candidates_prompt_status", "prompt_id", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    prompt_id: Mapped[int] = mapped_column(ForeignKey("prompts.id", ondelete="CASCADE"))
    version: Mapped[str] = mapped_column(String(64))
    parent: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    gate: Mapped[str] = mapped_column(String(16))  # the round's verdict: passed | rejected | format_only | …
    decision_id: Mapped[int] = mapped_column(ForeignKey("decisions.id", ondelete="CASCADE"))
    changed_by: Mapped[int] = mapped_column(ForeignKey("decisions.id", ondelete="CASCADE"))
    experiment_id: Mapped[int | None] = mapped_column(ForeignKey("experiments.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


__all__ += ["AutopilotBudget", "AutopilotCandidate", "AutopilotDrift", "AutopilotLease"]


# --- jobs and the webhook outbox ------------------------------------------------------------------


class JobRow(Base):
    """One background job (an evaluation, an evolution, an autopilot pass, a webhook delivery): what the
    API and the dashboard read, whichever engine delivers it (``promptevolve.jobs``). ``run_after`` and
    ``heartbeat_at`` are epoch seconds, compared in SQL like the telemetry times."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_status_run_after", "status", "run_after"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    status: Mapped[str] = mapped_column(String(16))  # queued | running | succeeded | failed | cancelled
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    actor: Mapped[str] = mapped_column(String(200))
    progress: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[str | None] = mapped_column(Text)
    error_code: Mapped[str | None] = mapped_column(String(40))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=1)
    run_after: Mapped[float] = mapped_column(Double, default=0.0)
    worker: Mapped[str | None] = mapped_column(String(200))
    heartbeat_at: Mapped[float | None] = mapped_column(Double)
    engine_ref: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()


class WebhookDelivery(Base):
    """The webhook outbox: one event to post, stored before anything is sent so a restart loses none.
    The secret is not stored, only the name of the environment variable that holds it."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # the event id, X-Promptevolve-Delivery
    url: Mapped[str] = mapped_column(Text)
    event: Mapped[str] = mapped_column(String(40))
    body: Mapped[str] = mapped_column(Text)  # the exact JSON posted (and signed)
    secret_env: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), index=True)  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    job_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column()


__all__ += ["JobRow", "WebhookDelivery"]
