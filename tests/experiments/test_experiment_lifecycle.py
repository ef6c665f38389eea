"""The experiment lifecycle through the real SDK and store (SQLite and PostgreSQL): ramp, measurement,
winner and promotion in the registry, automatic rollback, SRM block, no difference, minimum sample,
bandit shares, idempotent analysis, manual operations and refused ones."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, func, select
from tests.experiments.support import make_lab

from promptevolve.core.errors import ConflictError, NotFoundError, ValidationError
from promptevolve.core.ids import new_id
from promptevolve.experiments import ExperimentCreate
from promptevolve.experiments.report_page import report_html
from promptevolve.store.tables import Decision, Execution, Experiment, Exposure, Score
from promptevolve.store.writes import bulk_insert

THUMBS = {"1.0.0": 0.5, "1.1.0": 0.75}


@pytest.fixture
def lab(store):
    lab = make_lab(store)
    yield lab
    lab.close()


def request(**changes) -> ExperimentCreate:
    """A fixed routing seed: the SRM check at p < 0.001 would otherwise block about one run in a
    thousand at random (CI once saw it), and the figures the tests read would change from run to run."""
    values = dict(
        seed="lifecycle-tests",
        prompt="p",
        control="1.0.0",
        treatments=["1.1.0"],
        metric="thumbs",
        mde=0.1,
        min_sample=250,
        ramp=[10, 50, 100],
        min_units_per_step=30,
        guardrail_min_units=30,
        srm_grace_s=0,
    )
    values.update(changes)
    return ExperimentCreate(**values)


def actions(lab, exp_id) -> list[str]:
    return [d.action for d in lab.service.decisions(exp_id)]


def run_until(lab, exp_id, *, rounds=20, calls=300, thumbs=THUMBS, until=("concluded", "rolled_back")):
    for _ in range(rounds):
        lab.drive(calls, thumbs=thumbs)
        result = lab.service.analyze(exp_id)
        if result.experiment.status in until:
            return result
    raise AssertionError(f"still {result.experiment.status} after {rounds} rounds: {result.reason}")


def test_a_better_treatment_ramps_wins_and_is_promoted_in_the_registry(lab):
    info = lab.service.create(request())
    assert (
        info.status == "draft"
        and info.min_sample == 250
        and [a.arm for a in info.arms] == ["control", "treatment"]
    )
    started = lab.service.start(info.id)
    assert started.status == "ramping" and {a.arm: a.share for a in started.arms} == {
        "control": 90,
        "treatment": 10,
    }
    assert lab.optimizer.run("p", {"x": 1}, unit_id="first").experiment_id == info.id, (
        "routing follows at once"
    )

    result = run_until(lab, info.id)
    assert result.verdict == "promoted" and result.experiment.winner == "1.1.0"
    assert actions(lab, info.id) == ["create", "start", "measure", "winner", "promote"]
    winner = next(d for d in lab.service.decisions(info.id) if d.action == "winner")
    assert "thumbs +0." in winner.reason and winner.figures["arms"]["treatment"]["p_adjusted"] < 0.05
    summary = lab.registry.get_prompt("p")
    assert summary.active == {"1.1.0": 100.0} and summary.labels["production"] == "1.1.0"
    assert any("experiment" in (h.reason or "") for h in lab.registry.history("p") if h.action == "activate")
    with lab.store.read() as s:
        assert s.get(Experiment, info.id).winner_variant_id == lab.registry.get_variant("p", "1.1.0").id
    served = lab.optimizer.run("p", {"x": 1}, unit_id="after")
    assert (served.version, served.experiment_id) == ("1.1.0", None), "the registry serves the winner alone"


@pytest.mark.parametrize(
    ("harm", "metric"),
    [({"latency_ms": {"1.1.0": 700.0}}, "latency_ms"), ({"errors": {"1.1.0": 4}}, "error_rate")],
)
def test_a_harmful_treatment_is_rolled_back_before_half_the_traffic_with_the_reason(store, harm, metric):
    lab = make_lab(store, **harm)
    try:
        info = lab.service.create(request(ramp=[5, 25, 50, 100], min_units_per_step=40))
        lab.service.start(info.id)
        result = run_until(lab, info.id, calls=400)
        assert result.verdict == "rolled_back" and result.experiment.status == "rolled_back"
        rollback = lab.service.decisions(info.id)[-1]
        assert (
            rollback.action == "rollback"
            and f"{metric} of treatment is worse than control" in rollback.reason
        )
        assert rollback.figures["shares_before_bp"]["treatment"] < 5000, "caught before 50 %"
        assert lab.registry.get_prompt("p").active == {"1.0.0": 100.0}
        served = lab.optimizer.run("p", {"x": 1}, unit_id="later")
        assert (served.version, served.experiment_id) == ("1.0.0", None)
    finally:
        lab.close()


def test_a_sample_ratio_mismatch_blocks_a_clear_winner(lab):
    info = lab.service.create(request(ramp=[], min_sample=100, seed="srm"))
    lab.service.start(info.id)
    lab.drive(600, thumbs={"1.0.0": 0.3, "1.1.0": 0.9})
    with lab.store.write() as s:  # half of the treatment's exposures get lost
        lost = s.scalars(select(Exposure.id).where(Exposure.arm == "treatment")).all()[::2]
        s.execute(delete(Exposure).where(Exposure.id.in_(lost)))
    first = lab.service.analyze(info.id)
    assert first.verdict == "srm_blocked" and first.srm.blocks and first.experiment.status == "running"
    again = lab.service.analyze(info.id)
    assert again.verdict == "srm_blocked" and not again.actions
    assert actions(lab, info.id) == ["create", "start", "srm_blocked"]
    assert lab.registry.get_prompt("p").active == {"1.0.0": 100.0}


def test_equal_variants_end_in_no_difference_and_the_control_keeps_serving(lab):
    info = lab.service.create(request(ramp=[], mde=0.2, min_sample=100))
    lab.service.start(info.id)
    result = run_until(lab, info.id, calls=400, thumbs={"1.0.0": 0.5, "1.1.0": 0.5})
    assert result.verdict == "no_difference" and result.experiment.winner is None
    lift = next(a.lift for a in result.arms if a.arm == "treatment")
    assert lift.ci_low > -0.2 and lift.ci_high < 0.2
    assert lab.registry.get_prompt("p").active == {"1.0.0": 100.0}


def test_nothing_is_decided_before_the_minimum_sample(lab):
    info = lab.service.create(request(ramp=[], min_sample=5000))
    lab.service.start(info.id)
    lab.drive(600, thumbs={"1.0.0": 0.2, "1.1.0": 0.9})
    result = lab.service.analyze(info.id)
    assert result.verdict == "collecting" and "of 5000 per arm" in result.reason
    treated = next(a for a in result.arms if a.arm == "treatment")
    assert treated.lift.p_value < 1e-6 and result.experiment.status == "running"


def test_minimum_sample_comes_from_the_control_history_or_a_prior(lab):
    prior = lab.service.create(request(min_sample=None))
    assert "prior" in prior.min_sample_source and prior.min_sample > 300
    lab.drive(200, thumbs={"1.0.0": 0.9})
    planned = lab.service.create(request(min_sample=None))
    assert "history (200 calls" in planned.min_sample_source
    assert planned.min_sample < prior.min_sample, "a skewed baseline has less variance than the prior"
    with pytest.raises(ValidationError, match="give min_sample"):
        lab.service.create(request(min_sample=None, metric="cost_usd"))


def test_analyze_is_idempotent_and_applies_a_step_once(lab):
    info = lab.service.create(request())
    lab.service.start(info.id)
    lab.drive(500)
    first = lab.service.analyze(info.id)
    assert first.actions == ["measure"] and first.applied
    second = lab.service.analyze(info.id)
    assert not second.actions and not second.applied and second.experiment.status == "running"
    assert actions(lab, info.id) == ["create", "start", "measure"]
    dry = lab.service.analyze(info.id, apply=False)
    assert dry.experiment.status == "running" and not dry.applied


def test_a_bandit_moves_traffic_to_the_best_arm_and_routing_follows(store):
    lab = make_lab(store, variants=3)
    try:
        info = lab.service.create(
            request(mode="bandit", treatments=["1.1.0", "1.2.0"], bandit_min_units=20, min_sample=None)
        )
        started = lab.service.start(info.id)
        assert started.status == "running" and all(abs(a.share - 100 / 3) < 0.01 for a in started.arms)
        thumbs = {"1.0.0": 0.3, "1.1.0": 0.4, "1.2.0": 0.8}
        lab.drive(450, thumbs=thumbs)
        result = lab.service.analyze(info.id)
        assert result.actions == ["bandit_weights"]
        shares = {a.arm: a.share for a in result.experiment.arms}
        assert (
            shares["treatment_2"] > 80
            and min(shares.values()) >= 1.0
            and sum(shares.values()) == pytest.approx(100)
        )
        assert next(a for a in result.arms if a.arm == "treatment_2").probability_best > 0.9
        arms = [r.arm for r in lab.drive(400)]
        assert arms.count("treatment_2") / len(arms) > 0.7, "the SDK routes by the new shares"
    finally:
        lab.close()


def test_the_composite_primary_reads_evaluator_scores_and_reports_coverage(lab):
    info = lab.service.create(request(metric="composite", ramp=[], min_sample=50))
    lab.service.start(info.id)
    results = lab.drive(300)
    rows = [
        {
            "id": new_id(),
            "execution_id": r.execution_id,
            "metric": "accuracy",
            "value": 0.9 if r.version == "1.1.0" else 0.6,
            "ts": 0.0,
        }
        for r in results[::2]
    ]
    bulk_insert(lab.store, Score.__table__, rows)
    result = lab.service.analyze(info.id)
    control, treated = (next(a for a in result.arms if a.arm == k) for k in ("control", "treatment"))
    assert 0.2 < control.coverage < 1 and treated.mean > control.mean
    assert result.experiment.metric == "composite"


def test_pause_resume_stop_and_manual_promote_and_rollback(lab):
    info = lab.service.create(request(ramp=[]))
    lab.service.start(info.id)
    assert lab.service.pause(info.id).status == "paused"
    assert lab.optimizer.run("p", {"x": 1}, unit_id="a").experiment_id is None, (
        "a paused experiment stops routing"
    )
    assert lab.service.start(info.id).status == "running"
    assert lab.optimizer.run("p", {"x": 1}, unit_id="a").experiment_id == info.id
    with pytest.raises(ConflictError, match="no winner yet"):
        lab.service.promote(info.id)
    with pytest.raises(ValidationError, match="stop the experiment"):
        lab.service.promote(info.id, arm="control")
    promoted = lab.service.promote(info.id, arm="treatment", reason="looks better to the team")
    assert promoted.status == "concluded" and promoted.winner == "1.1.0"
    assert lab.registry.get_prompt("p").active == {"1.1.0": 100.0}
    back = lab.service.rollback(info.id, reason="complaints")
    assert back.status == "rolled_back" and lab.registry.get_prompt("p").labels["production"] == "1.0.0"
    assert actions(lab, info.id)[-2:] == ["promote", "rollback"]
    other = lab.service.create(request(ramp=[]))
    assert lab.service.stop(other.id, reason="not needed").status == "stopped"
    with pytest.raises(ConflictError, match="already stopped"):
        lab.service.stop(other.id)


def test_refused_operations_name_the_problem_and_write_nothing(lab, db_snapshot):
    first = lab.service.create(request(ramp=[]))
    second = lab.service.create(request(ramp=[]))
    lab.service.start(first.id)
    before = db_snapshot()
    with pytest.raises(ConflictError, match=f"experiment {first.id} already routes"):
        lab.service.start(second.id)
    with pytest.raises(ConflictError, match="only a draft or paused one starts"):
        lab.service.start(first.id)
    with pytest.raises(NotFoundError, match="no experiment with id 999"):
        lab.service.analyze(999)
    with pytest.raises(NotFoundError, match="has no version 9.9.9"):
        lab.service.create(request(treatments=["9.9.9"]))
    with pytest.raises(NotFoundError, match="unknown prompt"):
        lab.service.create(request(prompt="nope"))
    assert db_snapshot() == before
    with lab.store.read() as s:
        assert s.scalar(select(func.count()).select_from(Decision)) == 3
        assert s.scalar(select(func.count()).select_from(Execution)) == 0


def test_the_report_series_ends_at_the_current_analysis_and_renders_as_html(lab):
    info = lab.service.create(request(ramp=[], min_sample=10**6))
    lab.service.start(info.id)
    for _ in range(3):
        lab.drive(200, thumbs={"1.0.0": 0.5, "1.1.0": 0.6})
    report = lab.service.report(info.id, buckets=10)
    last = [p for p in report.series if p.arm == "treatment"][-1]
    lift = next(a.lift for a in report.analysis.arms if a.arm == "treatment")
    assert last.estimate == pytest.approx(lift.estimate) and last.units + last.units_control == 600
    assert report.series_start is not None and [d.action for d in report.decisions] == ["create", "start"]
    page = report_html(report)
    assert page.count("<svg") == 1 and 'data-chart="lift"' in page and 'class="boundary"' in page
    assert "<polygon" in page or 'class="whisker' in page  # the interval: a band, or a lone point's whisker


def test_a_promotion_left_pending_by_an_older_version_is_carried_out_by_the_next_locked_call(lab):
    """Older versions committed the decision first and changed the registry after; a crash in between
    left ``pending`` in the config. The next call that locks the experiment applies and clears it."""
    info = lab.service.create(request(ramp=[]))
    lab.service.start(info.id)
    with lab.store.write() as s:
        exp = s.get_one(Experiment, info.id)
        exp.status = "concluded"
        exp.config = {
            **exp.config,
            "pending": {"action": "promote", "version": "1.1.0", "reason": "promoted before the crash"},
        }
    assert lab.registry.get_prompt("p").active == {"1.0.0": 100.0}
    lab.service.analyze(info.id)
    summary = lab.registry.get_prompt("p")
    assert summary.active == {"1.1.0": 100.0} and summary.labels["production"] == "1.1.0"
    with lab.store.read() as s:
        exp = s.get_one(Experiment, info.id)
        assert "pending" not in exp.config and exp.winner_variant_id is not None
