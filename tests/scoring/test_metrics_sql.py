"""The SQL twin of the metrics gives exactly what the pure functions give, on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from collections import defaultdict

import pytest

from promptevolve.core.ids import new_id
from promptevolve.experiments.sums import ArmSums, arm_series, arm_sums, exposed_units, variant_sample
from promptevolve.registry import Registry, VariantCreate
from promptevolve.scoring import (
    BUILTIN_METRICS,
    ExecutionRecord,
    ScoringConfig,
    Weights,
    metric_spec,
    metric_value,
)
from promptevolve.store.tables import Execution, Experiment, Exposure, Feedback, Prompt, Score

METRICS = [*BUILTIN_METRICS, "score:exact_match"]
CONFIGS = {
    "default": ScoringConfig(),
    "custom": ScoringConfig(
        weights=Weights(accuracy=1.0, response_time=0.5, consistency=0.0, satisfaction=2.0),
        target_latency_ms=300.0,
        accuracy_sources=("correction", "thumbs", "evaluator"),
        consistency_metrics=("format_valid",),
        min_coverage=0.3,
    ),
}


def _random_call(rng: random.Random) -> tuple[dict, ExecutionRecord]:
    status = rng.choice(["ok"] * 6 + ["error", "fallback"])
    output = rng.choice(["Paris", " Paris ", "Lyon", None])
    record = ExecutionRecord(
        status=status,
        latency_ms=rng.choice([None, rng.uniform(50, 900)]),
        cost_usd=rng.choice([None, rng.uniform(0, 0.01)]),
        prompt_tokens=rng.choice([None, rng.randint(1, 50)]),
        completion_tokens=rng.randint(0, 30),
        output=output,
        scores={
            m: rng.random()
            for m in ("accuracy", "format_valid", "agreement", "exact_match")
            if rng.random() < 0.4
        },
        thumbs=[float(rng.random() < 0.6) for _ in range(rng.choice([0, 0, 1, 2]))],
        ratings=[float(rng.randint(1, 5)) for _ in range(rng.choice([0, 0, 1]))],
        feedback_scores=[rng.random() for _ in range(rng.choice([0, 0, 1]))],
        corrections=[rng.choice(["Paris", "Lyon"]) for _ in range(rng.choice([0, 0, 0, 1, 2]))],
    )
    return {"status": status, "output": output}, record


@pytest.fixture
def experiment_calls(store):
    """An experiment with 2 arms, ~150 calls from ~90 units, random scores and feedback."""
    registry = Registry(store, actor="test")
    variant = registry.register(VariantCreate(prompt="p", template="Hi {{ x }}")).variant
    rng = random.Random(7)
    calls: list[tuple[str, str, float, ExecutionRecord]] = []
    with store.write() as s:
        prompt_id = s.query(Prompt.id).filter(Prompt.name == "p").scalar()
        exp = Experiment(prompt_id=prompt_id, name="x", status="running", seed="s")
        s.add(exp)
        s.flush()
        exp_id = exp.id
        for u in range(90):
            arm = rng.choice(["control", "treatment"])
            unit = f"unit-{u}" if u % 10 else None  # some calls without a unit id
            for _ in range(rng.choice([1, 1, 2, 3])):
                ts = 1_000.0 + rng.uniform(0, 100)
                row, record = _random_call(rng)
                eid = new_id()
                s.add(
                    Execution(
                        id=eid,
                        prompt_id=prompt_id,
                        variant_id=variant.id,
                        experiment_id=exp_id,
                        arm=arm,
                        unit_hash=unit,
                        status=row["status"],
                        output=row["output"],
                        latency_ms=record.latency_ms,
                        cost_usd=record.cost_usd,
                        prompt_tokens=record.prompt_tokens,
                        completion_tokens=record.completion_tokens,
                        ts=ts,
                    )
                )
                s.flush()
                for metric, value in record.scores.items():
                    # two rows averaging to the value: the SQL must take the mean per call
                    spread = min(value, 1.0 - value) / 2
                    for v in (value - spread, value + spread):
                        s.add(Score(id=new_id(), execution_id=eid, metric=metric, value=v, ts=ts))
                for kind, values in (
                    ("thumbs", record.thumbs),
                    ("rating", record.ratings),
                    ("score", record.feedback_scores),
                ):
                    for v in values:
                        s.add(Feedback(id=new_id(), execution_id=eid, kind=kind, value=v, ts=ts))
                for text in record.corrections:
                    s.add(Feedback(id=new_id(), execution_id=eid, kind="correction", text=text, ts=ts))
                s.add(Exposure(id=new_id(), experiment_id=exp_id, arm=arm, unit_hash=unit, ts=ts))
                calls.append((arm, unit or eid, ts, record))
    return exp_id, variant.id, calls


def _expected(calls, spec, config, since=None) -> dict[str, ArmSums]:
    per_unit: dict[tuple[str, str], list[float]] = defaultdict(list)
    for arm, unit, ts, record in calls:
        value = metric_value(record, spec, config)
        if value is not None and (since is None or ts >= since):
            per_unit[(arm, unit)].append(value)
    out: dict[str, ArmSums] = {}
    for (arm, _), ys in per_unit.items():
        x, z = sum(ys), float(len(ys))
        out[arm] = out.get(arm, ArmSums()) + ArmSums(1, x, z, x * x, z * z, x * z, sum(y * y for y in ys))
    return out


@pytest.mark.parametrize("config_name", list(CONFIGS))
def test_sql_sums_equal_the_pure_metrics_for_every_metric(store, experiment_calls, config_name):
    exp_id, _, calls = experiment_calls
    config = CONFIGS[config_name]
    with store.read() as s:
        for name in METRICS:
            spec = metric_spec(name)
            got = arm_sums(s, exp_id, spec, config)
            want = _expected(calls, spec, config)
            assert set(got) == set(want), name
            for arm in want:
                for field in ("units", "sum_x", "sum_z", "sum_x2", "sum_z2", "sum_xz", "sum_y2"):
                    assert getattr(got[arm], field) == pytest.approx(
                        getattr(want[arm], field), rel=1e-9, abs=1e-9
                    ), f"{name} {arm} {field}"


def test_series_by_first_call_adds_up_to_the_total_and_windows_filter(store, experiment_calls):
    exp_id, variant_id, calls = experiment_calls
    spec, config = metric_spec("composite"), ScoringConfig()
    with store.read() as s:
        total = arm_sums(s, exp_id, spec, config)
        series = arm_series(s, exp_id, spec, config, start=1_000.0, width=10.0)
        late = arm_sums(s, exp_id, spec, config, since=1_050.0)
        exposed = exposed_units(s, exp_id)
        baseline = variant_sample(s, variant_id, spec, config)
    for arm, points in series.items():
        buckets = [b for b, _ in points]
        assert buckets == sorted(buckets) and buckets[0] >= 0 and buckets[-1] <= 9
        summed = sum((sums for _, sums in points), ArmSums())
        assert summed.units == total[arm].units and summed.sum_x == pytest.approx(total[arm].sum_x)
        assert summed.sum_x2 == pytest.approx(total[arm].sum_x2)
    want_late = _expected(calls, spec, config, since=1_050.0)
    assert {a: v.units for a, v in late.items()} == {a: v.units for a, v in want_late.items()}
    assert exposed == {arm: len({u for a, u, _, _ in calls if a == arm}) for arm in ("control", "treatment")}
    values = [metric_value(r, spec, config) for *_, r in calls]
    values = [v for v in values if v is not None]
    assert baseline.n == len(values) and baseline.total == pytest.approx(sum(values))


def test_unit_level_stats_equal_call_level_stats_when_each_unit_calls_once():
    sums = ArmSums(
        units=3, sum_x=1.5, sum_z=3.0, sum_x2=0.25 + 0.25 + 1.0, sum_z2=3.0, sum_xz=1.5, sum_y2=1.5
    )
    assert sums.ratio.mean == pytest.approx(sums.sample.mean)
    assert sums.ratio.variance == pytest.approx(sums.sample.variance)
