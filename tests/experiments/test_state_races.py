"""Two processes change the same experiment at the same moment: the outcome is always one of the serial
orders, and the registry serves what the experiment's status says.

Each trial creates and starts a fresh A/B experiment (control ``1.0.0``, treatment ``1.1.0``), then two
processes released by one barrier each call one operation on it. The pairs cycle through promote against
rollback (the race of issue 14), promote against stop and pause against rollback. After both answered,
the parent checks:

- every operation that succeeded is in the decision log, in an order that a serial history allows
  (a rollback after a promotion is allowed: it undoes the promotion);
- the registry agrees with the final status: ``concluded`` serves the treatment alone at 100 % with
  ``production`` on it; ``rolled_back``, ``stopped`` and ``paused`` serve the control alone with
  ``production`` on it (routing no longer reads the experiment's shares).
"""

from __future__ import annotations

import multiprocessing as mp

import pytest
from sqlalchemy import select

from promptevolve.core.errors import ConflictError
from promptevolve.experiments import ExperimentCreate, ExperimentService
from promptevolve.registry import Registry, VariantCreate
from promptevolve.store.engine import Store
from promptevolve.store.tables import Decision

TRIALS = 120
PAIRS = (("promote", "rollback"), ("promote", "stop"), ("pause", "rollback"))

pytestmark = pytest.mark.slow


def _call(service: ExperimentService, operation: str, exp_id: int) -> str:
    try:
        if operation == "promote":
            service.promote(exp_id, arm="treatment", reason="race")
        elif operation == "rollback":
            service.rollback(exp_id, reason="race")
        elif operation == "stop":
            service.stop(exp_id, reason="race")
        else:
            service.pause(exp_id, reason="race")
    except ConflictError:
        return "refused"
    return "won"


def _contender(url: str, side: int, barrier, jobs, results) -> None:
    store = Store.from_url(url)
    service = ExperimentService(store, actor=f"side-{side}")
    try:
        while (job := jobs.get(timeout=120)) is not None:
            exp_id, operations = job
            barrier.wait(timeout=60)  # both sides hold their job: release them together
            results.put((side, _call(service, operations[side], exp_id)))
    finally:
        store.dispose()


def _registry_state(registry: Registry) -> tuple[dict[str, float], str | None]:
    summary = registry.get_prompt("p")
    return summary.active, summary.labels.get("production")


def _serial_orders(first: str, second: str, outcomes: dict[str, str]) -> bool:
    """Whether the outcomes (operation → won/refused) are those of one of the two serial orders."""
    allowed = {
        ("promote", "rollback"): [
            {"promote": "won", "rollback": "won"},
            {"rollback": "won", "promote": "refused"},
        ],
        ("promote", "stop"): [{"promote": "won", "stop": "refused"}, {"stop": "won", "promote": "refused"}],
        ("pause", "rollback"): [{"pause": "won", "rollback": "won"}, {"rollback": "won", "pause": "refused"}],
    }
    return outcomes in allowed[(first, second)]


EXPECTED_SERVING = {
    "concluded": ({"1.1.0": 100.0}, "1.1.0"),
    "rolled_back": ({"1.0.0": 100.0}, "1.0.0"),
    "stopped": ({"1.0.0": 100.0}, "1.0.0"),
    "paused": ({"1.0.0": 100.0}, "1.0.0"),
}


def test_concurrent_promote_rollback_pause_and_stop_leave_one_truth(store, database_url):
    registry = Registry(store, actor="setup")
    for body in ("A {{ x }}", "B {{ x }}"):
        registry.register(VariantCreate(prompt="p", template=body))
    registry.activate("p", "1.0.0")
    registry.set_label("p", "production", "1.0.0")
    service = ExperimentService(store, registry=registry, actor="setup")
    request = ExperimentCreate(
        prompt="p", control="1.0.0", treatments=["1.1.0"], metric="thumbs", min_sample=1000, ramp=[]
    )
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(2)
    jobs = [ctx.Queue(), ctx.Queue()]
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_contender, args=(database_url, i, barrier, jobs[i], results)) for i in (0, 1)
    ]
    for p in procs:
        p.start()
    inconsistent: list[str] = []
    try:
        for trial in range(TRIALS):
            first, second = PAIRS[trial % len(PAIRS)]
            # Alternate which process gets which operation, so neither side is always first to start.
            operations = (first, second) if trial % 2 == 0 else (second, first)
            registry.rollback("p", "1.0.0", reason="reset between trials")
            exp = service.create(request)
            service.start(exp.id)
            for q in jobs:
                q.put((exp.id, operations))
            answers = dict(results.get(timeout=120) for _ in range(2))
            outcomes = {operations[side]: answer for side, answer in answers.items()}
            status = service.get(exp.id).status
            serving = _registry_state(registry)
            with store.read() as s:
                logged = s.scalars(
                    select(Decision.action).where(
                        Decision.experiment_id == exp.id, Decision.action.in_((first, second))
                    )
                ).all()
            winners = [op for op in (first, second) if outcomes[op] == "won"]
            problems = []
            if not _serial_orders(first, second, outcomes):
                problems.append(f"outcomes {outcomes} fit no serial order")
            if sorted(logged) != sorted(winners):
                problems.append(f"decision log {logged} but winners {winners}")
            if serving != EXPECTED_SERVING.get(status):
                problems.append(f"status {status} but the registry serves {serving}")
            if problems:
                inconsistent.append(f"trial {trial} ({first} vs {second}): {'; '.join(problems)}")
    finally:
        for q in jobs:
            q.put(None)
        for p in procs:
            p.join(timeout=60)
            if p.is_alive():
                p.terminate()
    assert inconsistent == [], f"{len(inconsistent)} of {TRIALS} trials inconsistent:\n" + "\n".join(
        inconsistent[:10]
    )
    assert all(p.exitcode == 0 for p in procs)
