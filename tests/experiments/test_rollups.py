"""Rollups give the analysis and the trend the same sums as the raw rows, before and after new calls,
late feedback and scores, edits and deletions, on SQLite and PostgreSQL."""

from __future__ import annotations

import random
import threading
from typing import Any

import pytest
from sqlalchemy import delete, func, select, update

from promptevolve.compose import compose
from promptevolve.core.protocols import ManualClock
from promptevolve.experiments.models import ExperimentCreate
from promptevolve.experiments.rollups import (
    RollupSpec,
    arm_sums_of,
    exposed_rolled,
    prepare,
    rolled_sums,
    rollup_id,
)
from promptevolve.experiments.sums import ArmSums, arm_sums, exposed_units
from promptevolve.experiments.trend import _raw, trend_spec, trend_sums, variant_trend
from promptevolve.registry import Registry, VariantCreate
from promptevolve.scoring import ScoringConfig, metric_spec
from promptevolve.stats import SampleStats
from promptevolve.store.engine import Store
from promptevolve.store.migrate import upgrade
from promptevolve.store.rollup_log import POSTGRES_TRIGGERS, SQLITE_TRIGGERS, triggers_present
from promptevolve.store.tables import Execution, Exposure, Feedback, Rollup, RollupChange, Score
from promptevolve.store.writes import bulk_insert

T0 = 1_800_000_000.0
METRICS = ("composite", "coverage", "latency_ms", "error_rate", "thumbs", "rating", "consistency")
SCORING = ScoringConfig()


def _world(store: Store) -> tuple[int, int, int]:
    """An experiment on ``p`` (1.0.0 against 1.1.0) started at T0: (experiment, control, treatment)."""
    upgrade(store)
    registry = Registry(store, actor="test")
    for text in ("A {{ x }}", "B {{ x }}"):
        registry.register(VariantCreate(prompt="p", template=text))
    registry.activate("p", "1.0.0")
    service = compose(store, actor="test", clock=ManualClock(T0)).experiments
    exp = service.create(
        ExperimentCreate(prompt="p", control="1.0.0", treatments=["1.1.0"], ramp=[], seed="s")
    )
    service.start(exp.id)
    return exp.id, registry.get_variant("p", "1.0.0").id, registry.get_variant("p", "1.1.0").id


class Traffic:
    """Synthetic calls of the experiment: units making several calls, some without a unit id, errors,
    feedback of every kind and scores, written through the store's bulk writer."""

    def __init__(self, store: Store, ids: tuple[int, int, int], seed: int = 1) -> None:
        self.store, (self.exp, self.control, self.treatment) = store, ids
        self.rng = random.Random(seed)
        self.n = 0

    def calls(self, count: int, *, start: float, span: float) -> list[str]:
        rows: dict[str, list[dict[str, Any]]] = {
            "executions": [],
            "exposures": [],
            "scores": [],
            "feedback": [],
        }
        made = []
        for _ in range(count):
            self.n += 1
            eid = f"e{self.n:031d}"
            unit = self.rng.randrange(40)
            arm = ("control", "treatment")[unit % 2]
            unit_hash = None if unit >= 36 else f"{unit:064x}"
            ts = start + self.rng.random() * span
            status = self.rng.choice(["ok"] * 8 + ["error", "fallback"])
            rows["executions"].append(
                {
                    "id": eid,
                    "prompt_id": 1,
                    "variant_id": self.treatment if arm == "treatment" else self.control,
                    "experiment_id": self.exp,
                    "arm": arm,
                    "unit_hash": unit_hash,
                    "output": None if status == "error" else f"answer {unit % 3}",
                    "latency_ms": 100.0 + 900.0 * self.rng.random(),
                    "prompt_tokens": 10,
                    "completion_tokens": 5,
                    "cost_usd": 0.001,
                    "status": status,
                    "source": "run",
                    "ts": ts,
                }
            )
            rows["exposures"].append(
                {"id": eid, "experiment_id": self.exp, "arm": arm, "unit_hash": unit_hash, "ts": ts}
            )
            if status != "error" and self.rng.random() < 0.7:
                rows["scores"].append(self._score(eid, ts))
            if self.rng.random() < 0.5:
                rows["feedback"].append(self._feedback(eid, ts))
            made.append(eid)
        for name, table in (
            ("executions", Execution),
            ("exposures", Exposure),
            ("scores", Score),
            ("feedback", Feedback),
        ):
            bulk_insert(self.store, table.__table__, rows[name])
        return made

    def _score(self, eid: str, ts: float) -> dict[str, Any]:
        self.n += 1
        value = float(self.rng.random() < 0.9)
        return {
            "id": f"s{self.n:031d}",
            "execution_id": eid,
            "metric": "format_valid",
            "value": value,
            "ts": ts,
        }

    def _feedback(self, eid: str, ts: float) -> dict[str, Any]:
        self.n += 1
        kind = self.rng.choice(["thumbs", "thumbs", "rating", "score", "correction"])
        value = {"thumbs": float(self.rng.random() < 0.7), "rating": float(self.rng.randint(1, 5))}.get(
            kind, self.rng.random()
        )
        text = f"answer {self.rng.randrange(3)}" if kind == "correction" else None
        return {
            "id": f"f{self.n:031d}",
            "execution_id": eid,
            "kind": kind,
            "value": None if kind == "correction" else value,
            "text": text,
            "source": "user",
            "ts": ts + 30.0,
        }


def _arm_specs(exp: int, since: float | None) -> list[RollupSpec]:
    return [RollupSpec("arm", exp, metric=m, config=SCORING, since=since) for m in METRICS]


def _assert_close(rolled: dict[str, ArmSums], raw: dict[str, ArmSums]) -> None:
    assert set(rolled) == set(raw)
    for arm, r in raw.items():
        got = rolled[arm]
        assert got.units == r.units and got.executions == r.executions
        for name in ("sum_x", "sum_z", "sum_x2", "sum_z2", "sum_xz", "sum_y2"):
            assert getattr(got, name) == pytest.approx(getattr(r, name), rel=1e-9, abs=1e-9), (arm, name)


def _assert_rollups_match_raw(store: Store, exp: int, since: float | None, exposure_since: float) -> None:
    with store.read() as s:
        for m in METRICS:
            rid = rollup_id(s, RollupSpec("arm", exp, metric=m, config=SCORING, since=since))
            assert rid is not None
            _assert_close(rolled_sums(s, rid), arm_sums(s, exp, metric_spec(m), SCORING, since=since))
        rid = rollup_id(s, RollupSpec("exposure", exp, since=exposure_since))
        assert rid is not None
        assert exposed_rolled(s, rid) == exposed_units(s, exp, since=exposure_since)


def test_rolled_arm_sums_equal_the_raw_sums_through_new_calls_late_feedback_edits_and_deletions(store):
    ids = _world(store)
    exp = ids[0]
    traffic = Traffic(store, ids)
    old = traffic.calls(300, start=T0 - 100, span=3_000)  # some before `since`: outside the window
    since, exposure_since = T0 + 60.0, T0 + 600.0
    specs = [
        *_arm_specs(exp, since),
        *_arm_specs(exp, None),
        RollupSpec("exposure", exp, since=exposure_since),
    ]
    prepare(store, specs)  # built from the raw rows
    _assert_rollups_match_raw(store, exp, since, exposure_since)
    _assert_rollups_match_raw(store, exp, None, exposure_since)

    traffic.calls(200, start=T0 + 2_000, span=2_000)  # new calls of known and of new units
    late = [traffic._feedback(e, T0) for e in old[:40]] + [traffic._score(e, T0) for e in old[40:80]]
    bulk_insert(store, Feedback.__table__, [r for r in late if "kind" in r])
    bulk_insert(store, Score.__table__, [r for r in late if "metric" in r])
    with store.write() as s:  # an edited score, a deleted feedback, a deleted execution
        s.execute(update(Score).where(Score.execution_id == old[40]).values(value=0.25))
        s.execute(delete(Feedback).where(Feedback.execution_id == old[0]))
        s.execute(delete(Feedback).where(Feedback.execution_id == old[1]))
        s.execute(delete(Score).where(Score.execution_id == old[1]))
        s.execute(delete(Execution).where(Execution.id == old[1]))
    with store.read() as s:
        assert s.scalar(select(func.count()).select_from(RollupChange)) > 0
    prepare(store, specs)  # refreshed from the logged changes only
    _assert_rollups_match_raw(store, exp, since, exposure_since)
    _assert_rollups_match_raw(store, exp, None, exposure_since)
    with store.read() as s:
        assert s.scalar(select(func.count()).select_from(RollupChange)) == 0


def test_every_rollup_an_analysis_reads_equals_the_raw_sums_and_gives_the_same_analysis(store):
    ids = _world(store)
    exp = ids[0]
    Traffic(store, ids).calls(400, start=T0, span=5_000)
    service = compose(store, actor="test", clock=ManualClock(T0 + 6_000)).experiments
    first = service.analyze(exp, apply=False)  # builds the rollups, then reads them
    with store.read() as s:
        rows = s.scalars(select(Rollup).where(Rollup.experiment_id == exp)).all()
        assert {r.kind for r in rows} == {"arm", "exposure"}
        assert "composite" in {r.metric for r in rows}
        for r in rows:
            if r.kind == "exposure":
                assert exposed_rolled(s, r.id) == exposed_units(s, exp, since=r.since)
            else:
                raw = arm_sums(s, exp, metric_spec(r.metric), SCORING, since=r.since)
                _assert_close(rolled_sums(s, r.id), raw)
                assert arm_sums_of(s, exp, metric_spec(r.metric), SCORING, since=r.since) == rolled_sums(
                    s, r.id
                )
        with store.write() as w:  # without rollups the analysis reads the raw rows
            w.execute(delete(Rollup))
    with store.read() as s:
        raw = arm_sums_of(s, exp, metric_spec("composite"), SCORING, since=T0)
        _assert_close(raw, arm_sums(s, exp, metric_spec("composite"), SCORING, since=T0))
    again = service.analyze(exp, apply=False)  # rebuilt
    assert _close(first.model_dump(exclude={"at"}), again.model_dump(exclude={"at"}))


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return a == pytest.approx(b, rel=1e-9, abs=1e-12)
    return a == b


def test_writes_that_no_rollup_covers_log_no_change(store):
    ids = _world(store)
    Traffic(store, ids).calls(50, start=T0, span=100)
    with store.read() as s:
        assert s.scalar(select(func.count()).select_from(RollupChange)) == 0


def _changes(store: Store) -> int:
    with store.read() as s:
        return int(s.scalar(select(func.count()).select_from(RollupChange)) or 0)


def _triggers(store: Store) -> set[str]:
    with store.read() as s:
        return triggers_present(s)


def test_rows_before_and_after_the_first_rollup_count_exactly_and_none_is_logged_without_one(store):
    ids = _world(store)
    exp = ids[0]
    traffic = Traffic(store, ids, seed=5)
    all_triggers = {t[0] for t in (SQLITE_TRIGGERS if store.dialect == "sqlite" else POSTGRES_TRIGGERS)}
    assert len(all_triggers) == 10
    before = traffic.calls(150, start=T0, span=2_000)
    bulk_insert(store, Feedback.__table__, [traffic._feedback(e, T0) for e in before[::7]])
    assert _changes(store) == 0, "no rollup: no change is logged"
    assert _triggers(store) == set(), "no rollup: inserts run no trigger"

    specs = [*_arm_specs(exp, T0), RollupSpec("exposure", exp, since=T0)]
    prepare(store, specs)  # the first rollups: built from the rows written before them
    assert _triggers(store) == all_triggers
    _assert_rollups_match_raw(store, exp, T0, T0)
    after = traffic.calls(100, start=T0 + 1_000, span=2_000)
    bulk_insert(store, Feedback.__table__, [traffic._feedback(e, T0) for e in before[1::9] + after[::4]])
    with store.write() as s:  # an edit of a call counted before the rollup existed
        s.execute(update(Execution).where(Execution.id == before[3]).values(status="error", output=None))
    assert _changes(store) > 0
    prepare(store, specs)
    _assert_rollups_match_raw(store, exp, T0, T0)

    with store.write() as s:  # every rollup unread for longer than STALE_AFTER_S: the next look drops it
        s.execute(update(Rollup).values(read_at=0.0))
    prepare(store, [])
    with store.read() as s:
        assert s.scalar(select(func.count()).select_from(Rollup)) == 0
    assert _triggers(store) == set(), "the last rollup dropped: so are the triggers"
    traffic.calls(60, start=T0 + 2_000, span=500)
    assert _changes(store) == 0

    prepare(store, specs)  # registered again: built from every row, logged from then on
    assert _triggers(store) == all_triggers
    traffic.calls(40, start=T0 + 2_500, span=500)
    assert _changes(store) > 0
    prepare(store, specs)
    _assert_rollups_match_raw(store, exp, T0, T0)


def test_triggers_a_busy_postgres_cannot_drop_at_once_stay_until_a_later_look(store, backend):
    if backend != "postgres":
        pytest.skip("SQLite drops its triggers in the writer's own lock")
    ids = _world(store)
    traffic = Traffic(store, ids, seed=6)
    traffic.calls(30, start=T0, span=500)
    specs = [RollupSpec("exposure", ids[0], since=T0)]
    prepare(store, specs)
    with store.write() as s:
        s.execute(update(Rollup).values(read_at=0.0))
    with store.engine.connect() as reader:  # a long read of executions: dropping would queue readers
        reader.execute(select(func.count()).select_from(Execution)).scalar()
        prepare(store, [])  # gives up on the drop within DROP_WAIT_MS instead of waiting for the reader
        assert len(_triggers(store)) == 10
        reader.rollback()
    traffic.calls(10, start=T0 + 500, span=100)
    assert _changes(store) == 0, "no rollup: the triggers that stayed log nothing"
    prepare(store, [])
    assert _triggers(store) == set()


@pytest.mark.parametrize("seed", [1, 2])
def test_rolled_trend_equals_the_raw_trend_for_any_bucket_edges(store, seed):
    ids = _world(store)
    traffic = Traffic(store, ids, seed=seed)
    old = traffic.calls(300, start=T0, span=7_200)
    control = ids[1]
    rng = random.Random(seed)
    prepare(store, [trend_spec(control, m, SCORING) for m in METRICS])
    traffic.calls(150, start=T0 + 3_000, span=7_200)  # refreshed through the change log
    bulk_insert(store, Feedback.__table__, [traffic._feedback(e, T0) for e in old[::5]])
    prepare(store, [trend_spec(control, m, SCORING) for m in METRICS])
    for _ in range(6):
        since = T0 - 500 + rng.random() * 2_000
        until = since + 600 + rng.random() * 12_000
        buckets = rng.choice([1, 3, 7, 30, 97])
        for m in METRICS:
            spec = metric_spec(m)
            with store.read() as s:
                got = trend_sums(s, control, spec, SCORING, since=since, until=until, buckets=buckets)
            want = _raw_trend(store, control, m, since, until, buckets)
            assert got.keys() == want.keys(), (m, since, until, buckets)
            for k, w in want.items():
                assert got[k].n == w.n
                assert got[k].total == pytest.approx(w.total, rel=1e-9, abs=1e-9)
                assert got[k].total_sq == pytest.approx(w.total_sq, rel=1e-9, abs=1e-9)


def _raw_trend(
    store: Store, variant: int, metric: str, since: float, until: float, buckets: int
) -> dict[int, SampleStats]:
    width = (until - since) / buckets
    where = [Execution.variant_id == variant, Execution.ts >= since, Execution.ts < until]
    with store.read() as s:
        return _raw(s, metric_spec(metric), SCORING, where, since, width)


def test_concurrent_refreshes_and_writers_apply_every_change_exactly_once(store):
    ids = _world(store)
    exp = ids[0]
    traffic = Traffic(store, ids, seed=3)
    old = traffic.calls(100, start=T0, span=1_000)
    specs = [*_arm_specs(exp, T0), RollupSpec("exposure", exp, since=T0)]
    prepare(store, specs[:2])  # two built; the others are registered while writers run
    errors: list[BaseException] = []

    def guarded(fn: Any) -> Any:
        def run() -> None:
            try:
                fn()
            except BaseException as exc:  # reported by the main thread
                errors.append(exc)

        return run

    def write() -> None:
        for k in range(8):
            traffic.calls(25, start=T0 + 1_000 + 100 * k, span=100)
            bulk_insert(store, Feedback.__table__, [traffic._feedback(e, T0) for e in old[k::8]])

    def look() -> None:
        for _ in range(4):
            prepare(store, specs)

    threads = [threading.Thread(target=guarded(f)) for f in (write, look, look)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    prepare(store, specs)
    _assert_rollups_match_raw(store, exp, T0, T0)


def test_a_read_only_store_is_analysed_from_the_raw_rows(backend, tmp_path, request):
    from tests.faults.support import read_only_database

    def fill(store: Store) -> None:
        ids = _world(store)
        Traffic(store, ids).calls(200, start=T0, span=3_000)

    with read_only_database(backend, tmp_path, request, fill) as url:
        store = Store.from_url(url)
        try:
            service = compose(store, actor="test", clock=ManualClock(T0 + 4_000)).experiments
            exp = service.list()[0].id
            result = service.analyze(exp, apply=False)  # no rollup can be written: raw sums
            assert {a.arm for a in result.arms} == {"control", "treatment"}
            trend = variant_trend(
                store, "p", "1.0.0", metric="latency_ms", since=T0, until=T0 + 3_000, buckets=3
            )
            with store.read() as s:
                control = Registry(store, actor="test").get_variant("p", "1.0.0").id
                where = [Execution.variant_id == control, Execution.ts >= T0, Execution.ts < T0 + 3_000]
                raw = _raw(s, metric_spec("latency_ms"), SCORING, where, T0, 1_000)
            assert [p.executions for p in trend.points] == [raw[k].n if k in raw else 0 for k in range(3)]
        finally:
            store.dispose()
