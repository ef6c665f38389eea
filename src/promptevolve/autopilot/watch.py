"""Feeding the drift detector: the serving variant's new executions, from the store, in time order.

Per prompt, ``autopilot_drift`` keeps the detector state of two series of the variant that serves it
(composite score, error indicator), the time of the last execution consumed, and a **pending alarm**
(an alarm the autopilot has not yet answered with an evolution round). Each pass:

1. if another variant serves now, the state starts over from now (a new variant, a new reference);
2. reads the per-execution values (``experiments.sums.call_values``: the same SQL definition of each
   metric that experiments use) of executions since the last one consumed and older than the policy's
   ``settle_s`` (their feedback has had time to arrive; the composite of an execution without its
   feedback yet would read as a different mix of components);
3. feeds them to ``drift.observe`` and stores the new state; an alarm becomes the pending alarm (the
   larger one when both series alarm).

The values are fetched once per pass and only the new rows, so the cost does not grow with history.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from sqlalchemy import select

from promptevolve.autopilot.drift import (
    Alarm,
    CusumParams,
    Direction,
    observe,
    state_from_json,
    state_to_json,
)
from promptevolve.autopilot.policy import DriftPolicy
from promptevolve.experiments.sums import call_values
from promptevolve.scoring import ScoringConfig, metric_spec
from promptevolve.store.engine import Store
from promptevolve.store.tables import AutopilotDrift, Execution, utcnow

__all__ = ["SERIES", "DriftReading", "clear_pending", "read_drift", "restart", "update_drift"]

#: The watched series: metric name → the direction of harm.
SERIES = {"composite": Direction.DOWN, "error_rate": Direction.UP}


@dataclass(frozen=True, slots=True)
class DriftReading:
    variant_id: int | None
    since: float | None
    pending: dict[str, Any] | None
    monitored: dict[str, int]  # batches monitored per series since the reference was set
    reference_progress: dict[str, float]  # share of the reference collected, per series
    alarms: tuple[tuple[str, Alarm], ...] = ()


def _params(policy: DriftPolicy, direction: Direction) -> CusumParams:
    return CusumParams(
        direction=direction,
        batch=policy.batch,
        reference_batches=policy.reference_batches,
        allowance=policy.allowance,
        threshold=policy.threshold,
    )


def _values(
    store: Store, variant_id: int, metric: str, scoring: ScoringConfig, since: float, until: float
) -> list[tuple[float, float | None]]:
    where = [Execution.variant_id == variant_id, Execution.ts > since, Execution.ts <= until]
    calls = call_values(metric_spec(metric), scoring, where).subquery("calls")
    with store.read() as s:
        rows = s.execute(select(calls.c.ts, calls.c.v).order_by(calls.c.ts)).all()
    return [(float(ts), None if v is None else float(v)) for ts, v in rows]


def _reading(row_variant: int | None, doc: dict[str, Any], policy: DriftPolicy) -> DriftReading:
    monitored, progress = {}, {}
    need = policy.batch * policy.reference_batches
    for metric in SERIES:
        state = state_from_json(doc.get(metric))
        monitored[metric] = state.monitored
        progress[metric] = min(state.ref_n / need, 1.0)
    return DriftReading(row_variant, doc.get("since"), doc.get("pending"), monitored, progress)


def read_drift(store: Store, prompt_id: int, policy: DriftPolicy) -> DriftReading:
    with store.read() as s:
        row = s.get(AutopilotDrift, prompt_id)
        return _reading(row.variant_id if row else None, dict(row.state) if row else {}, policy)


def update_drift(
    store: Store,
    prompt_id: int,
    variant_id: int,
    policy: DriftPolicy,
    scoring: ScoringConfig,
    *,
    now: float,
) -> DriftReading:
    """One pass of the detector over the new executions (see the module docstring)."""
    with store.read() as s:
        row = s.get(AutopilotDrift, prompt_id)
        doc: dict[str, Any] = dict(row.state) if row and row.variant_id == variant_id else {"since": now}
    since = float(doc.get("since", now))
    until = now - policy.settle_s
    alarms: list[tuple[str, Alarm]] = []
    last = since
    for metric, direction in SERIES.items():
        rows = _values(store, variant_id, metric, scoring, since, until)
        if rows:
            last = max(last, rows[-1][0])
        values = [v for _, v in rows if v is not None]
        state, found = observe(state_from_json(doc.get(metric)), values, _params(policy, direction))
        doc[metric] = state_to_json(state)
        alarms.extend((metric, a) for a in found)
    doc["since"] = last
    if alarms:
        metric, alarm = max(alarms, key=lambda x: x[1].size)
        doc["pending"] = {"metric": metric, **asdict(alarm), "size": alarm.size, "at": now}
    _save(store, prompt_id, variant_id, doc)
    return replace(_reading(variant_id, doc, policy), alarms=tuple(alarms))


def clear_pending(store: Store, prompt_id: int) -> None:
    """The pending alarm has been answered (an evolution round ran)."""
    with store.write() as s:
        row = s.get(AutopilotDrift, prompt_id)
        if row is not None and row.state.get("pending"):
            row.state = {k: v for k, v in row.state.items() if k != "pending"}
            row.updated_at = utcnow()


def restart(store: Store, prompt_id: int, variant_id: int, *, now: float) -> None:
    """Start the detector over on ``variant_id`` (after a rollback), keeping a pending alarm: the
    drop it reported still calls for an evolution round."""
    with store.read() as s:
        row = s.get(AutopilotDrift, prompt_id)
        pending = row.state.get("pending") if row is not None else None
    doc: dict[str, Any] = {"since": now}
    if pending:
        doc["pending"] = pending
    _save(store, prompt_id, variant_id, doc)


def _save(store: Store, prompt_id: int, variant_id: int, doc: dict[str, Any]) -> None:
    with store.write() as s:
        row = s.get(AutopilotDrift, prompt_id)
        if row is None:
            s.add(AutopilotDrift(prompt_id=prompt_id, variant_id=variant_id, state=doc))
        else:
            row.variant_id, row.state, row.updated_at = variant_id, doc, utcnow()
