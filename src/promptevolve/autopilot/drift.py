"""Drift detection on the serving variant: a one-sided CUSUM on batch means (pure: no I/O, no clock).

The autopilot watches two series of the variant that serves a prompt, in time order: the per-execution
composite score (a **drop** is bad) and the error indicator (a **rise** is bad). For each series:

1. **Batches.** Consecutive measured executions are grouped by ``batch`` (50 by default) and each
   batch's mean is one observation. Per-execution values are bounded and often 0/1; their batch means
   are close to normal (central limit), which is what the CUSUM's run-length theory assumes, and a
   false alarm rate per batch is one per ``batch`` executions, not per call.
2. **Reference.** The first ``reference_batches`` batches (40: 2,000 executions by default) after the
   detector starts (a new serving variant, or after an alarm) give the reference mean ``μ0`` and the
   per-execution standard deviation ``s`` (floored at ``min_sd`` for near-constant series); a batch
   mean's standard deviation is ``σ = s / √batch``.
3. **CUSUM** (Page 1954), for a drop: ``S ← max(0, S + (μ0 − x̄)/σ − k)``; for a rise the sign flips.
   An alarm is raised when ``S > h``. ``k`` (``allowance``, 0.5) is half the shift, in σ, that the
   detector is tuned for; ``h`` (``threshold``, 8) sets the false-alarm rate. The batches since ``S``
   last left zero estimate when the change began; their mean is the new level, and ``level − μ0`` is
   the alarm's **shift**, which the policy compares with its rollback thresholds.
4. After an alarm the detector starts again from step 2 on the data that follows (the level has moved).

**False alarms.** With known normal parameters, a one-sided CUSUM with k = 0.5 and h = 8 has an average
run length to a false alarm of about 19,000 batches (Siegmund's approximation, ``arl_normal``). The
reference is estimated, though, and a reference mean that happens to sit high makes false alarms much
likelier, so the rate that matters is measured by simulation (``run_length``, which runs this detector):
on 0/1 data at p = 0.6 with the defaults, a false alarm within 100 monitored batches (5,000
executions) happens in about 5 % of the runs, within 1,000 batches in about 18 %; a drop from 0.6 to
0.5 is detected after a median of 9 batches (450 executions), 0.6 to 0.55 after about 25
(``tests/autopilot/test_drift.py``, ``bench/autopilot_sim.py``, docs/autopilot.md). Defaults trade a
slower start (2,000 executions of reference) for few false alarms; a false alarm costs an evolution
round, and a rollback only if the estimated drop also passes the policy's threshold.

The state is a frozen value with a JSON form; the autopilot stores it per prompt (``autopilot_drift``)
and feeds it the executions that arrived since the last pass, so a pass costs the new rows only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from typing import Any

import numpy as np

__all__ = [
    "Alarm",
    "CusumParams",
    "CusumState",
    "Direction",
    "arl_normal",
    "observe",
    "reference",
    "run_length",
    "state_from_json",
    "state_to_json",
]


class Direction(StrEnum):
    DOWN = "down"  # a drop is bad (scores)
    UP = "up"  # a rise is bad (error rate)


@dataclass(frozen=True, slots=True)
class CusumParams:
    direction: Direction = Direction.DOWN
    batch: int = 50
    reference_batches: int = 40
    allowance: float = 0.5
    threshold: float = 8.0
    min_sd: float = 0.02

    def __post_init__(self) -> None:
        if self.batch < 1 or self.reference_batches < 2:
            raise ValueError("batch must be >= 1 and reference_batches >= 2")
        if not (self.allowance > 0 and self.threshold > 0 and self.min_sd > 0):
            raise ValueError("allowance, threshold and min_sd must be positive")


@dataclass(frozen=True, slots=True)
class Alarm:
    """A detected change: ``shift = level − reference`` (negative for a drop)."""

    direction: Direction
    reference: float
    level: float
    shift: float
    statistic: float
    batches: int  # batches since the estimated start of the change
    monitored: int  # batches monitored since the reference was set

    @property
    def size(self) -> float:
        """How far the level moved in the bad direction (positive when it got worse)."""
        return -self.shift if self.direction is Direction.DOWN else self.shift


@dataclass(frozen=True, slots=True)
class CusumState:
    ref_n: int = 0
    ref_sum: float = 0.0
    ref_sum2: float = 0.0
    part_n: int = 0
    part_sum: float = 0.0
    statistic: float = 0.0
    monitored: int = 0
    run_batches: int = 0
    run_sum: float = 0.0  # sum of the batch means since the statistic last left zero


def reference(state: CusumState, params: CusumParams) -> tuple[float, float] | None:
    """(μ0, σ of a batch mean) once the reference is complete, else None."""
    if state.ref_n < params.batch * params.reference_batches:
        return None
    n = state.ref_n
    mean = state.ref_sum / n
    var = max(state.ref_sum2 - n * mean * mean, 0.0) / (n - 1)
    return mean, max(math.sqrt(var), params.min_sd) / math.sqrt(params.batch)


def observe(
    state: CusumState, values: Sequence[float] | np.ndarray, params: CusumParams
) -> tuple[CusumState, tuple[Alarm, ...]]:
    """Feed ``values`` (in time order); returns the new state and the alarms raised, in order."""
    data = np.asarray(values, dtype=float)
    data = data[np.isfinite(data)]
    alarms: list[Alarm] = []
    while data.size:
        need = params.batch * params.reference_batches - state.ref_n
        if need > 0:
            head, data = data[:need], data[need:]
            state = replace(
                state,
                ref_n=state.ref_n + head.size,
                ref_sum=state.ref_sum + float(head.sum()),
                ref_sum2=state.ref_sum2 + float((head * head).sum()),
            )
            continue
        state, data, alarm = _monitor(state, data, params)
        if alarm is not None:
            alarms.append(alarm)
            state = CusumState()
    return state, tuple(alarms)


def _monitor(
    state: CusumState, data: np.ndarray, params: CusumParams
) -> tuple[CusumState, np.ndarray, Alarm | None]:
    """Consume batches until the data runs out or an alarm; returns what is left of the data."""
    mu0, sigma = reference(state, params)  # type: ignore[misc]  # complete by the caller's loop
    sign = 1.0 if params.direction is Direction.DOWN else -1.0
    while data.size:
        take = params.batch - state.part_n
        head, data = data[:take], data[take:]
        if head.size < take:
            return (
                replace(state, part_n=state.part_n + head.size, part_sum=state.part_sum + float(head.sum())),
                data,
                None,
            )
        mean = (state.part_sum + float(head.sum())) / params.batch
        s = max(0.0, state.statistic + sign * (mu0 - mean) / sigma - params.allowance)
        run_batches, run_sum = (0, 0.0) if s == 0.0 else (state.run_batches + 1, state.run_sum + mean)
        state = replace(
            state,
            part_n=0,
            part_sum=0.0,
            statistic=s,
            monitored=state.monitored + 1,
            run_batches=run_batches,
            run_sum=run_sum,
        )
        if s > params.threshold:
            level = run_sum / run_batches
            alarm = Alarm(params.direction, mu0, level, level - mu0, s, run_batches, state.monitored)
            return state, data, alarm
    return state, data, None


def run_length(
    sample: Callable[[np.random.Generator, int], np.ndarray],
    params: CusumParams,
    rng: np.random.Generator,
    *,
    max_batches: int = 100_000,
    chunk_batches: int = 200,
) -> int | None:
    """Batches monitored (after the reference) until the first alarm on data drawn by ``sample(rng, n)``;
    None if there was none within ``max_batches``. The simulation behind the stated false-alarm rates
    and detection delays: it runs the detector itself, not a copy of it."""
    state = CusumState()
    state, _ = observe(state, sample(rng, params.batch * params.reference_batches), params)
    while state.monitored < max_batches:
        size = min(chunk_batches, max_batches - state.monitored)
        state, alarms = observe(state, sample(rng, params.batch * size), params)
        if alarms:
            return alarms[0].monitored
    return None


def arl_normal(allowance: float, threshold: float, shift: float = 0.0) -> float:
    """Siegmund's approximation of a one-sided CUSUM's average run length for normal observations with
    unit variance whose mean moved by ``shift`` (in σ, toward the alarm side; 0 = no change)."""
    delta = shift - allowance
    b = threshold + 1.166
    if abs(delta) < 1e-9:
        return b * b
    return (math.exp(-2 * delta * b) + 2 * delta * b - 1) / (2 * delta * delta)


def state_to_json(state: CusumState) -> dict[str, Any]:
    return asdict(state)


def state_from_json(doc: Mapping[str, Any] | None) -> CusumState:
    if not doc:
        return CusumState()
    fields = set(CusumState.__dataclass_fields__)
    return CusumState(**{k: v for k, v in doc.items() if k in fields})
