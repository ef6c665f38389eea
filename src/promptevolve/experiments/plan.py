"""An experiment's plan (fixed at creation) and its running state, as frozen values with a JSON form.

The store keeps the plan in ``experiments.config["plan"]``; the columns of ``experiments`` mirror what
people read of it (primary metric, guardrails, alpha, …). Each part of the state is stored once: what
the router and people read (status, ramp step, each arm's share) in the columns of ``experiments`` and
``experiment_arms``, the rest (the trackers, the phase times, the winner, …) in
``experiments.config["state"]``, which no longer repeats the columns (migration 0013: the copies were
reconciled on every load, the columns winning, and could only disagree). ``state_from_json`` joins the
two. The decision code (``decide.py``) works on these values only: it gets a ``Plan``, a ``State`` and
what the database measured, and returns the next ``State``.

The state carries the **trackers** of the always-valid tests: per arm (and per guardrail), the number
of looks, the running intersection of the intervals (the tightest always-valid interval) and the
running minima of the directional p-values. A confidence sequence's p-value is valid at each look, so
the smallest over the looks made is the always-valid p-value of the experiment so far; it is stored so
that it does not depend on anyone remembering past looks.

Times are float epoch seconds, as in the telemetry tables they are compared with.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from promptevolve.core.statuses import ExperimentStatus
from promptevolve.experiments.procedures import Procedure
from promptevolve.scoring import MetricSpec, metric_spec
from promptevolve.stats import DEFAULT_TUNING

__all__ = [
    "COLUMN_FIELDS",
    "DEFAULT_LADDER",
    "FULL_BP",
    "ExperimentStatus",
    "Guardrail",
    "Mode",
    "Plan",
    "State",
    "Tracker",
    "json_safe",
    "plan_from_json",
    "plan_to_json",
    "state_from_json",
    "state_to_json",
]

#: 100 % in basis points.
FULL_BP = 10_000
#: The safe-rollout ladder, in percent of traffic for the treatment.
DEFAULT_LADDER = (1.0, 5.0, 10.0, 25.0, 50.0, 100.0)


class Mode(StrEnum):
    AB = "ab"
    BANDIT = "bandit"


@dataclass(frozen=True, slots=True)
class Guardrail:
    """A metric that must not get worse than control by more than ``tolerance`` (in lift units:
    relative, e.g. 0.05 = 5 %, when ``relative``, else absolute)."""

    metric: str
    tolerance: float
    relative: bool

    @property
    def spec(self) -> MetricSpec:
        return metric_spec(self.metric)


@dataclass(frozen=True)
class Plan:
    """Everything decided at creation. Shares are basis points; ``ladder_bp`` is empty without ramp."""

    mode: Mode
    control: str
    treatments: tuple[str, ...]
    test_shares_bp: Mapping[str, int]
    metric: str
    relative: bool
    procedure: Procedure
    alpha: float
    mde: float
    min_sample: int
    guardrails: tuple[Guardrail, ...] = ()
    guardrail_alpha: float = 0.05
    ladder_bp: tuple[int, ...] = ()
    min_units_per_step: int = 100
    min_seconds_per_step: float = 0.0
    step_margin: float = 1.5
    guardrail_min_units: int = 50
    srm_grace_s: float = 60.0
    tuning: float = DEFAULT_TUNING
    tau_sq: float | None = None
    bandit_floor: float = 0.01
    bandit_min_units: int = 20
    bandit_min_change_bp: int = 100

    @property
    def arms(self) -> tuple[str, ...]:
        return (self.control, *self.treatments)

    @property
    def spec(self) -> MetricSpec:
        return metric_spec(self.metric)


@dataclass(frozen=True, slots=True)
class Tracker:
    """Running always-valid bounds of one comparison (see the module docstring)."""

    looks: int = 0
    low: float = -math.inf
    high: float = math.inf
    p_better: float = 1.0
    p_worse: float = 1.0
    p_harm: float = 1.0


@dataclass(frozen=True)
class State:
    status: ExperimentStatus
    shares_bp: Mapping[str, int]
    step: int | None = None
    started_at: float | None = None
    phase_since: float | None = None
    measure_since: float | None = None
    winner: str | None = None
    dropped: tuple[str, ...] = ()
    srm_blocked: bool = False
    looks: int = 0
    resume_status: ExperimentStatus | None = None
    primary: Mapping[str, Tracker] = field(default_factory=dict)
    guardrails: Mapping[str, Mapping[str, Tracker]] = field(default_factory=dict)


# --- JSON ----------------------------------------------------------------------------------------------


def json_safe(value: Any) -> Any:
    """``value`` with non-finite floats as ``None`` (JSON has no inf or nan; PostgreSQL refuses them)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def _finite_or(value: Any, default: float) -> float:
    return default if value is None else float(value)


def _tracker(doc: Mapping[str, Any]) -> Tracker:
    return Tracker(
        looks=int(doc.get("looks", 0)),
        low=_finite_or(doc.get("low"), -math.inf),
        high=_finite_or(doc.get("high"), math.inf),
        p_better=float(doc.get("p_better", 1.0)),
        p_worse=float(doc.get("p_worse", 1.0)),
        p_harm=float(doc.get("p_harm", 1.0)),
    )


def plan_to_json(plan: Plan) -> dict[str, Any]:
    doc = asdict(plan)
    doc["treatments"] = list(plan.treatments)
    doc["test_shares_bp"] = dict(plan.test_shares_bp)
    doc["ladder_bp"] = list(plan.ladder_bp)
    doc["guardrails"] = [asdict(g) for g in plan.guardrails]
    return json_safe(doc)


def plan_from_json(doc: Mapping[str, Any]) -> Plan:
    values = dict(doc)
    values["mode"] = Mode(values["mode"])
    values["procedure"] = Procedure(values["procedure"])
    values["treatments"] = tuple(values["treatments"])
    values["test_shares_bp"] = {k: int(v) for k, v in values["test_shares_bp"].items()}
    values["ladder_bp"] = tuple(int(x) for x in values.get("ladder_bp", ()))
    values["guardrails"] = tuple(Guardrail(**g) for g in values.get("guardrails", ()))
    return Plan(**values)


#: The state's parts stored in columns (``experiments.status``, ``.ramp_step``, ``experiment_arms.share_bp``),
#: never in the JSON document.
COLUMN_FIELDS = ("status", "shares_bp", "step")


def state_to_json(state: State) -> dict[str, Any]:
    """The state's document: every part but the columns' (``COLUMN_FIELDS``)."""
    return json_safe(
        {
            "started_at": state.started_at,
            "phase_since": state.phase_since,
            "measure_since": state.measure_since,
            "winner": state.winner,
            "dropped": list(state.dropped),
            "srm_blocked": state.srm_blocked,
            "looks": state.looks,
            "resume_status": state.resume_status.value if state.resume_status else None,
            "primary": {arm: asdict(t) for arm, t in state.primary.items()},
            "guardrails": {
                metric: {arm: asdict(t) for arm, t in arms.items()}
                for metric, arms in state.guardrails.items()
            },
        }
    )


def state_from_json(
    doc: Mapping[str, Any], *, status: ExperimentStatus, shares_bp: Mapping[str, int], step: int | None
) -> State:
    """The state from its document and the values of its columns."""
    return State(
        status=status,
        shares_bp=dict(shares_bp),
        step=step,
        started_at=doc.get("started_at"),
        phase_since=doc.get("phase_since"),
        measure_since=doc.get("measure_since"),
        winner=doc.get("winner"),
        dropped=tuple(doc.get("dropped", ())),
        srm_blocked=bool(doc.get("srm_blocked", False)),
        looks=int(doc.get("looks", 0)),
        resume_status=ExperimentStatus(doc["resume_status"]) if doc.get("resume_status") else None,
        primary={arm: _tracker(t) for arm, t in doc.get("primary", {}).items()},
        guardrails={
            metric: {arm: _tracker(t) for arm, t in arms.items()}
            for metric, arms in doc.get("guardrails", {}).items()
        },
    )
