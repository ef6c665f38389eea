"""Rollups: the sums an analysis and a trend read, kept current so a read costs O(arms) or O(minutes).

Computing an experiment's sums from its raw calls at every look cost 588 s at 10M executions
(BENCHMARKS.md). A rollup holds the same sums, maintained incrementally, so the statistics stay those
of ``sums.py`` (equal up to the order of floating-point additions):

- ``arm``: per (arm, unit) the unit's x = Σv, z = calls, Σv² and first call over the experiment's calls
  with ``ts >= since`` (``rollup_units``), and per arm the two-level sums over those units
  (``rollup_arms``: units, Σx, Σz, Σx², Σz², Σxz, Σy², what ``sums.arm_sums`` returns);
- ``exposure``: the (arm, unit) pairs exposed since ``since``, and their count per arm
  (``sums.exposed_units``);
- ``trend``: per minute (``floor(ts / 60)``) a variant's count, Σv and Σv² of a metric
  (``rollup_minutes``; read by ``trend.py``).

**Incremental, exactly.** A unit's totals are not additive across its calls' changes (late feedback and
scores change the value of calls already counted), so a refresh does not add new calls: it recomputes
*whole units* (and whole minutes) whose calls changed, from the raw rows, and moves the arm's sums by
(new − old) of each recomputed unit. Which units and minutes changed comes from ``rollup_changes``,
written by triggers in every writer's transaction (migration 0009; the triggers exist only while a
rollup does, ``store.rollup_log``), for covered rows only; a refresh
consumes what it has read, so each change is applied once. Recomputing a unit twice is harmless (its
delta is then zero), which is what makes the refresh safe to repeat and a change seen twice harmless.

**Building.** A rollup is made the first time a read asks for it (one scan of the raw rows, what one
raw read costs) and refreshed by every later read. Its registration is committed first and, on
PostgreSQL, every writer that started before it is waited for (``LOCK … IN SHARE MODE``, released at
once) before the build reads: a writer that could not yet see the registration (and so logged nothing)
has committed by then, and its rows are in the build. Refreshes and builds hold one advisory lock (on
SQLite the write lock), so two processes never apply the same delta twice.

A rollup that no read has asked for in ``STALE_AFTER_S`` is dropped (its triggers' logging stops with it;
the triggers themselves are dropped with the last rollup, and created again with the next).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Double,
    Integer,
    String,
    Table,
    and_,
    any_,
    case,
    cast,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from promptevolve.core.errors import StoreUnavailableError
from promptevolve.experiments.sums import (
    ArmSums,
    _arm_sums,
    _per_unit,
    _scope,
    _sum_columns,
    arm_sums,
    call_values,
    calls_values,
    exposed_units,
)
from promptevolve.scoring import MetricSpec, ScoringConfig, metric_spec
from promptevolve.store.engine import Store, is_read_only
from promptevolve.store.rollup_log import sync_triggers
from promptevolve.store.tables import (
    Execution,
    Exposure,
    Rollup,
    RollupArm,
    RollupChange,
    RollupMinute,
    RollupUnit,
)
from promptevolve.store.writes import insert_rows

__all__ = [
    "STALE_AFTER_S",
    "RollupSpec",
    "arm_sums_of",
    "exposed_rolled",
    "exposed_units_of",
    "prepare",
    "prepare_if_writable",
    "refresh",
    "rolled_sums",
    "rollup_id",
]

STALE_AFTER_S = 7 * 86_400.0
_LOCK = 7_305_417_991  # the advisory lock of refreshes and builds (an arbitrary constant)
_CHUNK = 2_000  # changes and units per statement (SQLite allows 32,766 parameters)
_BUILDING = -1.0  # built_at of a registered rollup not built yet


@dataclass(frozen=True)
class RollupSpec:
    """What one rollup sums; ``key`` identifies it in ``rollups``."""

    kind: str  # arm | exposure | trend
    experiment_id: int | None = None
    variant_id: int | None = None
    metric: str | None = None
    config: ScoringConfig | None = None
    since: float | None = None

    @property
    def key(self) -> str:
        doc = {
            "kind": self.kind,
            "experiment_id": self.experiment_id,
            "variant_id": self.variant_id,
            "metric": self.metric,
            "config": self.config.model_dump(mode="json") if self.config is not None else None,
            "since": repr(self.since) if self.since is not None else None,
        }
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


# --- reads --------------------------------------------------------------------------------------------


def rollup_id(s: Session, spec: RollupSpec) -> int | None:
    """The id of ``spec``'s rollup if it is built, else None (the caller then reads the raw rows)."""
    return s.scalar(select(Rollup.id).where(Rollup.key == spec.key, Rollup.built_at >= 0))


def rolled_sums(s: Session, rid: int) -> dict[str, ArmSums]:
    """``sums.arm_sums`` from an ``arm`` rollup: per arm with at least one unit."""
    rows = s.execute(select(RollupArm).where(RollupArm.rollup_id == rid, RollupArm.units > 0)).scalars()
    return {row.arm: _arm_sums(row) for row in rows}


def exposed_rolled(s: Session, rid: int) -> dict[str, int]:
    """``sums.exposed_units`` from an ``exposure`` rollup."""
    rows = s.execute(
        select(RollupArm.arm, RollupArm.units).where(RollupArm.rollup_id == rid, RollupArm.units > 0)
    ).all()
    return {arm: int(n) for arm, n in rows}


def arm_sums_of(
    s: Session,
    experiment_id: int,
    spec: MetricSpec,
    config: ScoringConfig,
    *,
    since: float | None,
    rolled: bool = True,
) -> dict[str, ArmSums]:
    """``sums.arm_sums`` from its rollup when one is built (and ``rolled``: it was just refreshed), else
    from the raw rows."""
    spec_ = RollupSpec("arm", experiment_id, metric=spec.name, config=config, since=since)
    rid = rollup_id(s, spec_) if rolled else None
    return rolled_sums(s, rid) if rid is not None else arm_sums(s, experiment_id, spec, config, since=since)


def exposed_units_of(
    s: Session, experiment_id: int, *, since: float | None, rolled: bool = True
) -> dict[str, int]:
    """``sums.exposed_units`` from its rollup when one is built (and ``rolled``), else from the raw rows."""
    rid = rollup_id(s, RollupSpec("exposure", experiment_id, since=since)) if rolled else None
    return exposed_rolled(s, rid) if rid is not None else exposed_units(s, experiment_id, since=since)


# --- preparing: register, build, refresh --------------------------------------------------------------


def prepare(store: Store, specs: Iterable[RollupSpec]) -> None:
    """Make every rollup of ``specs`` exist and be current with the stored rows; drop stale ones.
    (Wall time, not a caller's clock: it only dates the rollups for housekeeping.)"""
    now = time.time()
    wanted = {spec.key: spec for spec in specs}
    with store.write() as s:
        _lock(s)
        known = set(s.scalars(select(Rollup.key).where(Rollup.key.in_(list(wanted)))))
        fresh = [spec for key, spec in wanted.items() if key not in known]
        for spec in fresh:
            s.add(_registration(spec, now))
        s.flush()
        sync_triggers(s)  # the change log starts in the registration's transaction
    if fresh:
        _wait_for_writers(store)
    with store.write() as s:
        _lock(s)
        refresh(s)
        built = s.scalars(select(Rollup).where(Rollup.built_at < 0)).all()
        for row in built:
            _build(s, row, now)
        if built:  # statistics for the refreshes' plans now, not when autovacuum gets to it
            for table in ("rollup_units", "rollup_arms", "rollup_minutes"):
                s.execute(text(f"ANALYZE {table}"))
        s.execute(update(Rollup).where(Rollup.key.in_(list(wanted))).values(read_at=now))
        s.execute(delete(Rollup).where(Rollup.read_at < now - STALE_AFTER_S))
        sync_triggers(s)  # no rollup left: no trigger cost on inserts


def prepare_if_writable(store: Store, specs: Iterable[RollupSpec]) -> bool:
    """``prepare``, or False when the store refuses writes (a read-only file or database, a standby):
    the rollups may then be stale, and the caller reads the raw rows instead."""
    try:
        prepare(store, specs)
    except StoreUnavailableError as exc:
        if exc.__cause__ is not None and is_read_only(exc.__cause__):
            return False
        raise
    return True


def _registration(spec: RollupSpec, now: float) -> Rollup:
    return Rollup(
        key=spec.key,
        kind=spec.kind,
        experiment_id=spec.experiment_id,
        variant_id=spec.variant_id,
        metric=spec.metric,
        config=spec.config.model_dump(mode="json") if spec.config is not None else None,
        since=spec.since,
        built_at=_BUILDING,
        read_at=now,
    )


def _wait_for_writers(store: Store) -> None:
    """Wait until every writer that may have missed a new registration has committed (PostgreSQL)."""
    with store.write() as s:
        if s.get_bind().dialect.name == "postgresql":
            s.execute(text("LOCK TABLE executions, feedback, scores, exposures IN SHARE MODE"))


def _lock(s: Session) -> None:
    if s.get_bind().dialect.name == "postgresql":
        s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK})


def _spec(row: Rollup) -> RollupSpec:
    config = ScoringConfig.model_validate(row.config) if row.config is not None else None
    return RollupSpec(row.kind, row.experiment_id, row.variant_id, row.metric, config, row.since)


def _build(s: Session, row: Rollup, now: float) -> None:
    spec = _spec(row)
    if spec.kind == "arm":
        units = _per_unit(_arm_calls(spec, []).subquery("calls"))
        source = select(
            literal(row.id), units.c.unit, units.c.arm, units.c.x, units.c.z, units.c.y2, units.c.first
        )
        s.execute(
            insert(RollupUnit).from_select(["rollup_id", "unit", "arm", "x", "z", "y2", "first"], source)
        )
    elif spec.kind == "exposure":
        unit = func.coalesce(Exposure.unit_hash, Exposure.id)
        source = (
            select(literal(row.id), unit, Exposure.arm, _zero(), func.count(), _zero(), func.min(Exposure.ts))
            .where(*_exposure_scope(spec))
            .group_by(Exposure.arm, unit)
        )
        s.execute(
            insert(RollupUnit).from_select(["rollup_id", "unit", "arm", "x", "z", "y2", "first"], source)
        )
    else:
        s.execute(
            insert(RollupMinute).from_select(
                ["rollup_id", "minute", "n", "sum_v", "sum_v2"], _minutes(s, row.id, spec, [])
            )
        )
    if spec.kind != "trend":
        s.execute(
            insert(RollupArm).from_select(
                ["rollup_id", "arm", "units", "sum_x", "sum_z", "sum_x2", "sum_z2", "sum_xz", "sum_y2"],
                select(literal(row.id), RollupUnit.arm, *_sum_columns(RollupUnit.__table__))
                .where(RollupUnit.rollup_id == row.id)
                .group_by(RollupUnit.arm),
            )
        )
    row.built_at = now


def _table(model: Any) -> Table:
    table = model.__table__
    assert isinstance(table, Table)  # a declarative class's table (typed as the wider FromClause)
    return table


def _zero() -> Any:
    return literal(0.0, Double())


def _exposure_scope(spec: RollupSpec) -> list[Any]:
    where = [Exposure.experiment_id == spec.experiment_id]
    if spec.since is not None:
        where.append(Exposure.ts >= spec.since)
    return where


def _arm_calls(spec: RollupSpec, extra: Sequence[Any]) -> Any:
    assert spec.experiment_id is not None and spec.metric is not None and spec.config is not None
    where = [*_scope(spec.experiment_id, spec.since, None), *extra]
    return call_values(metric_spec(spec.metric), spec.config, where)


def _minute(s: Session, ts: Any) -> Any:
    if s.get_bind().dialect.name == "postgresql":
        return cast(func.floor(ts / literal(60.0, Double())), Integer)
    return cast(ts / literal(60.0, Double()), Integer)  # ts >= 0: the integer cast is a floor


def _minutes(s: Session, rid: int, spec: RollupSpec, extra: Sequence[Any]) -> Any:
    """Per minute: (rollup id, minute, n, Σv, Σv²) of the variant's calls matching ``extra``."""
    assert spec.variant_id is not None and spec.metric is not None and spec.config is not None
    where = [Execution.variant_id == spec.variant_id, *extra]
    calls = call_values(metric_spec(spec.metric), spec.config, where).subquery("calls")
    v = calls.c.v
    minute = _minute(s, calls.c.ts)
    return (
        select(literal(rid), minute.label("minute"), func.count(v), func.sum(v), func.sum(v * v))
        .where(v.is_not(None))
        .group_by(minute)
    )


# --- refreshing ---------------------------------------------------------------------------------------


@dataclass
class _Dirty:
    units: dict[int, set[str]]  # experiment → units whose calls changed
    minutes: dict[int, set[int]]  # variant → minutes whose calls changed
    exposures: list[tuple[int, str, str, float]]  # (experiment, arm, unit, ts)


def refresh(s: Session) -> int:
    """Apply every logged change to the built rollups (the caller holds the lock); returns how many."""
    rollups = [row for row in s.scalars(select(Rollup).where(Rollup.built_at >= 0)).all()]
    consumed = 0
    while True:
        changes = s.execute(select(RollupChange).order_by(RollupChange.id).limit(_CHUNK)).scalars().all()
        if not changes:
            return consumed
        # Delete exactly what was read: a change with a smaller id committed later is still to come.
        s.execute(delete(RollupChange).where(RollupChange.id.in_([c.id for c in changes])))
        consumed += len(changes)
        _apply(s, rollups, _dirty(changes))


def _dirty(changes: Sequence[RollupChange]) -> _Dirty:
    dirty = _Dirty(defaultdict(set), defaultdict(set), [])
    for c in changes:
        if c.kind == "x":
            if c.experiment_id is not None and c.arm is not None and c.unit is not None and c.ts is not None:
                dirty.exposures.append((c.experiment_id, c.arm, c.unit, c.ts))
            continue
        if c.experiment_id is not None and c.unit is not None:
            dirty.units[c.experiment_id].add(c.unit)
        if c.variant_id is not None and c.ts is not None:
            dirty.minutes[c.variant_id].add(math.floor(c.ts / 60.0))
    return dirty


def _apply(s: Session, rollups: Sequence[Rollup], dirty: _Dirty) -> None:
    groups: dict[tuple[Any, ...], list[tuple[int, RollupSpec]]] = defaultdict(list)
    for row in rollups:
        spec = _spec(row)
        if spec.kind == "arm" and spec.experiment_id in dirty.units:
            # Rollups of one experiment, window and scoring are recomputed by one query together.
            config = spec.config.model_dump_json() if spec.config is not None else None
            groups[(spec.experiment_id, spec.since, config)].append((row.id, spec))
        elif spec.kind == "exposure":
            _add_exposures(s, row.id, spec, dirty.exposures)
        elif spec.kind == "trend" and spec.variant_id in dirty.minutes:
            _recompute_minutes(s, row.id, spec, dirty.minutes[spec.variant_id])
    for (experiment_id, _, _), members in groups.items():
        units = sorted(dirty.units[experiment_id])
        for i in range(0, len(units), _CHUNK):
            _recompute_units(s, members, units[i : i + _CHUNK])


def _among(s: Session, column: Any, values: Sequence[Any]) -> Any:
    """``column IN values``; on PostgreSQL ``= ANY(array)``, one parameter instead of thousands (whose
    rendering and parsing cost more than the query)."""
    if s.get_bind().dialect.name == "postgresql":
        return column == any_(literal(list(values), ARRAY(String())))
    return column.in_(values)


_SUMS = ("units", "sum_x", "sum_z", "sum_x2", "sum_z2", "sum_xz", "sum_y2")


def _unit_terms(x: float, z: int, y2: float) -> tuple[float, ...]:
    return (1, x, float(z), x * x, float(z) * float(z), x * float(z), y2)


def _move_arms(s: Session, deltas: dict[tuple[int, str], list[float]]) -> None:
    """Add ``deltas`` (per rollup and arm, in ``_SUMS`` order) to the arm rows, creating missing ones."""
    rids = sorted({rid for rid, _ in deltas})
    current = {
        (r.rollup_id, r.arm): r for r in s.scalars(select(RollupArm).where(RollupArm.rollup_id.in_(rids)))
    }
    for (rid, arm), delta in deltas.items():
        row = current.get((rid, arm))
        if row is None:
            values = dict(zip(_SUMS, [round(delta[0]), *delta[1:]], strict=True))
            s.add(RollupArm(rollup_id=rid, arm=arm, **values))
            continue
        row.units += round(delta[0])
        for name, d in zip(_SUMS[1:], delta[1:], strict=True):
            setattr(row, name, getattr(row, name) + d)
    s.flush()


def _deltas() -> dict[tuple[int, str], list[float]]:
    return defaultdict(lambda: [0.0] * len(_SUMS))


def _recompute_units(s: Session, members: Sequence[tuple[int, RollupSpec]], units: list[str]) -> None:
    """Recompute ``units`` in each rollup of ``members`` (same experiment, window and scoring)."""
    first = members[0][1]
    assert first.experiment_id is not None and first.config is not None
    specs = [metric_spec(str(spec.metric)) for _, spec in members]
    # Two plain filters, each served by one index, rather than one OR that planners may answer by
    # scanning the experiment's calls in time order: units by hash, then calls without a unit id.
    by_hash = _among(s, Execution.unit_hash, units)
    by_id = and_(Execution.unit_hash.is_(None), _among(s, Execution.id, units))
    new: list[list[Any]] = [[] for _ in members]
    for where in (by_hash, by_id):
        scope = [*_scope(first.experiment_id, first.since, None), where]
        calls = calls_values(specs, first.config, scope).subquery("calls")
        columns: list[Any] = [calls.c.arm, calls.c.unit]
        for i in range(len(specs)):
            v = calls.c[f"v{i}"]
            columns += [
                func.sum(v),
                func.count(v),
                func.sum(v * v),
                func.min(case((v.is_not(None), calls.c.ts))),
            ]
        for r in s.execute(select(*columns).group_by(calls.c.arm, calls.c.unit)).all():
            for i in range(len(specs)):
                x, z, y2, ts = r[2 + 4 * i : 6 + 4 * i]
                if z:  # as ``sums._per_unit``: a unit counts in a metric once one of its calls measures it
                    new[i].append((r[1], r[0], float(x), int(z), float(y2), float(ts)))
    _replace_units(s, [(rid, rows) for (rid, _), rows in zip(members, new, strict=True)], units)


def _replace_units(
    s: Session, new: Sequence[tuple[int, list[tuple[str, str, float, int, float, float]]]], units: list[str]
) -> None:
    """Store the recomputed totals of ``units`` in each rollup and move its arm sums by (new − old); one
    statement of each kind for all the rollups."""
    rids = [rid for rid, _ in new]
    where = [RollupUnit.rollup_id.in_(rids), _among(s, RollupUnit.unit, units)]
    # One DELETE … RETURNING finds and removes the old totals (a SELECT then a DELETE walked the same
    # index entries twice: two thirds of a 10M refresh).
    old = s.execute(
        delete(RollupUnit)
        .where(*where)
        .returning(RollupUnit.rollup_id, RollupUnit.arm, RollupUnit.x, RollupUnit.z, RollupUnit.y2)
        .execution_options(synchronize_session=False)
    ).all()
    deltas = _deltas()
    for rid, arm, x, z, y2 in old:
        for i, term in enumerate(_unit_terms(float(x), int(z), float(y2))):
            deltas[(rid, arm)][i] -= term
    for rid, rows in new:
        for _, arm, x, z, y2, _ in rows:
            for i, term in enumerate(_unit_terms(x, z, y2)):
                deltas[(rid, arm)][i] += term
    names = ("unit", "arm", "x", "z", "y2", "first")
    stored = [{"rollup_id": rid, **dict(zip(names, r, strict=True))} for rid, rows in new for r in rows]
    # The store's bulk writer (COPY on PostgreSQL): the ORM's insert cost half the refresh.
    insert_rows(s.connection(), _table(RollupUnit), stored)
    _move_arms(s, deltas)


def _add_exposures(
    s: Session, rid: int, spec: RollupSpec, exposures: Sequence[tuple[int, str, str, float]]
) -> None:
    """Exposures only accumulate: a pair seen since ``since`` for the first time adds a unit to its arm."""
    first: dict[tuple[str, str], float] = {}
    for experiment_id, arm, unit, ts in exposures:
        if experiment_id == spec.experiment_id and (spec.since is None or ts >= spec.since):
            first[(unit, arm)] = min(ts, first.get((unit, arm), ts))
    if not first:
        return
    units = sorted({unit for unit, _ in first})
    known: set[tuple[str, str]] = set()
    for i in range(0, len(units), _CHUNK):
        rows = s.execute(
            select(RollupUnit.unit, RollupUnit.arm).where(
                RollupUnit.rollup_id == rid, _among(s, RollupUnit.unit, units[i : i + _CHUNK])
            )
        ).all()
        known |= {(r.unit, r.arm) for r in rows}
    added = [(unit, arm, ts) for (unit, arm), ts in first.items() if (unit, arm) not in known]
    if not added:
        return
    exposed = [
        {"rollup_id": rid, "unit": u, "arm": a, "x": 0.0, "z": 1, "y2": 0.0, "first": ts}
        for u, a, ts in added
    ]
    insert_rows(s.connection(), _table(RollupUnit), exposed)
    deltas = _deltas()
    for _, arm, _ in added:
        deltas[(rid, arm)][0] += 1
    _move_arms(s, deltas)


def _ranges(minutes: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted minutes as inclusive runs ``(first, last)``."""
    out: list[tuple[int, int]] = []
    for m in sorted(minutes):
        if out and m == out[-1][1] + 1:
            out[-1] = (out[-1][0], m)
        else:
            out.append((m, m))
    return out


def _statements(s: Session, runs: list[tuple[int, int]]) -> list[list[tuple[int, int]]]:
    """Runs of minutes grouped by statement: all in one on PostgreSQL (a BitmapOr of index ranges), one
    each on SQLite, which answered an OR of ranges, or two ranges on ts, by reading every call of the
    variant (4 s for a warm 30-day trend at 1M)."""
    if s.get_bind().dialect.name == "postgresql":
        return [runs[i : i + 200] for i in range(0, len(runs), 200)]
    return [[run] for run in runs]


def _recompute_minutes(s: Session, rid: int, spec: RollupSpec, minutes: set[int]) -> None:
    for part in _statements(s, _ranges(minutes)):
        # A second of margin around each run: the minute of a call is computed in SQL as floor(ts / 60),
        # whose rounding near a boundary may differ from a comparison of ts with 60·m.
        near = or_(
            *(and_(Execution.ts >= lo * 60.0 - 1.0, Execution.ts < (hi + 1) * 60.0 + 1.0) for lo, hi in part)
        )
        rows = [
            r
            for r in s.execute(_minutes(s, rid, spec, [near])).all()
            if any(lo <= r[1] <= hi for lo, hi in part)
        ]
        in_part = or_(*(RollupMinute.minute.between(lo, hi) for lo, hi in part))
        s.execute(delete(RollupMinute).where(RollupMinute.rollup_id == rid, in_part))
        if rows:
            names = ("minute", "n", "sum_v", "sum_v2")
            minute_rows = [
                {
                    "rollup_id": rid,
                    **dict(
                        zip(names, (int(r[1]), int(r[2]), float(r[3] or 0), float(r[4] or 0)), strict=True)
                    ),
                }
                for r in rows
            ]
            insert_rows(s.connection(), _table(RollupMinute), minute_rows)
