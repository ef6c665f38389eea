"""An experiment's state is stored once (SQLite and PostgreSQL): status, ramp step and shares in their
columns only, the rest in ``config["state"]``; migration 0013 drops the copies an older database holds,
whatever they said (the columns always won), and its downgrade writes them back for the older code.
The experiment's copy of the scoring weights is read whether or not it carries its version."""

from __future__ import annotations

from tests.experiments.support import make_lab
from tests.experiments.test_experiment_lifecycle import request

from promptevolve.experiments.plan import COLUMN_FIELDS
from promptevolve.store.migrate import downgrade, head_revision, upgrade
from promptevolve.store.tables import Experiment, ExperimentArm


def _stored(store, exp_id):
    with store.read() as s:
        exp = s.get_one(Experiment, exp_id)
        arms = {a.arm: a.share_bp for a in s.query(ExperimentArm).filter_by(experiment_id=exp_id)}
        return dict(exp.config["state"]), exp.status, exp.ramp_step, arms


def test_the_columns_hold_status_step_and_shares_and_the_document_the_rest(store):
    lab = make_lab(store)
    try:
        info = lab.service.create(request())
        lab.service.start(info.id)
        lab.drive(120)
        lab.service.analyze(info.id)
        state, status, step, arms = _stored(store, info.id)
        assert not set(COLUMN_FIELDS) & set(state), state
        assert (status, step) == ("ramping", 0) and sorted(arms.values()) == [1000, 9000]
        before = lab.service.get(info.id)

        assert downgrade(store, "0012") == "0012"
        old, *_ = _stored(store, info.id)
        assert (old["status"], old["step"], old["shares_bp"]) == (status, step, arms), "what 0012 reads"
        with store.write() as s:  # copies that disagree with the columns, as a reconciled load allowed
            exp = s.get_one(Experiment, info.id)
            stale = {**old, "status": "draft", "step": None, "shares_bp": {}}
            unversioned = {k: v for k, v in exp.config["scoring"].items() if k != "version"}
            assert exp.config["scoring"]["version"] == 1, "scoring copies are stored versioned"
            exp.config = {**exp.config, "state": stale, "scoring": unversioned}  # as 0012's code wrote

        assert upgrade(store) == head_revision()
        assert _stored(store, info.id) == (state, status, step, arms), "the copies dropped, nothing else"
        assert lab.service.get(info.id) == before
        lab.drive(120)
        assert lab.service.analyze(info.id).experiment.status in ("ramping", "running")
    finally:
        lab.close()
