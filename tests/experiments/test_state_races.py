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

A second test starts two drafts of the same prompt at the same moment: exactly one may route.

The contenders' store waits up to a minute for the other's lock (not the default three seconds): the
loser of a race waits for the winner's whole transaction, which a loaded machine can stretch past 3 s,
and a lock timeout is not what these tests are about (``tests/store/test_timeouts.py`` is).
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from promptevolve.compose import compose
from promptevolve.core.errors import ConflictError
from promptevolve.experiments import ExperimentCreate, ExperimentService
from promptevolve.registry import Registry, VariantCreate
from promptevolve.store.engine import Store, StoreTimeouts
from promptevolve.store.tables import Decision

TRIALS = 120
START_TRIALS = 25
PATIENT = StoreTimeouts(lock_s=60, pool_s=60)
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
        elif operation == "start":
            service.start(exp_id)
        else:
            service.pause(exp_id, reason="race")
    except ConflictError:
        return "refused"
    return "won"


def _contender(url: str, side: int, barrier, jobs, results) -> None:
    store = Store.from_url(url, timeouts=PATIENT)
    service = compose(store, actor=f"side-{side}").experiments
    try:
        while (job := jobs.get(timeout=120)) is not None:
            exp_ids, operations = job
            barrier.wait(timeout=60)  # both sides hold their job: release them together
            results.put((side, _call(service, operations[side], exp_ids[side])))
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


@dataclass
class Contenders:
    """Two processes that each run one operation per trial, released together by a barrier."""

    jobs: list[Any]
    results: Any

    def race(self, exp_ids: tuple[int, int], operations: tuple[str, str]) -> dict[int, str]:
        for q in self.jobs:
            q.put((exp_ids, operations))
        return dict(self.results.get(timeout=120) for _ in range(2))


@pytest.fixture
def contenders(database_url: str) -> Iterator[Contenders]:
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(2)
    jobs = [ctx.Queue(), ctx.Queue()]
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_contender, args=(database_url, i, barrier, jobs[i], results)) for i in (0, 1)
    ]
    for p in procs:
        p.start()
    try:
        yield Contenders(jobs, results)
    finally:
        for q in jobs:
            q.put(None)
        for p in procs:
            p.join(timeout=60)
            if p.is_alive():
                p.terminate()
    assert all(p.exitcode == 0 for p in procs)


@pytest.fixture
def lab(store: Store) -> tuple[Registry, ExperimentService, ExperimentCreate]:
    registry = Registry(store, actor="setup")
    for body in ("A {{ x }}", "B {{ x }}"):
        registry.register(VariantCreate(prompt="p", template=body))
    registry.activate("p", "1.0.0")
    registry.set_label("p", "production", "1.0.0")
    service = ExperimentService(store, registry=registry, actor="setup")
    request = ExperimentCreate(
        prompt="p", control="1.0.0", treatments=["1.1.0"], metric="thumbs", min_sample=1000, ramp=[]
    )
    return registry, service, request


def test_concurrent_promote_rollback_pause_and_stop_leave_one_truth(store, lab, contenders):
    registry, service, request = lab
    inconsistent: list[str] = []
    for trial in range(TRIALS):
        first, second = PAIRS[trial % len(PAIRS)]
        # Alternate which process gets which operation, so neither side is always first to start.
        operations = (first, second) if trial % 2 == 0 else (second, first)
        registry.rollback("p", "1.0.0", reason="reset between trials")
        exp = service.create(request)
        service.start(exp.id)
        answers = contenders.race((exp.id, exp.id), operations)
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
    assert inconsistent == [], f"{len(inconsistent)} of {TRIALS} trials inconsistent:\n" + "\n".join(
        inconsistent[:10]
    )


def test_two_experiments_started_at_once_on_one_prompt_never_both_route(lab, contenders):
    """Only one experiment may route a prompt's traffic; two drafts started at the same moment used to
    both pass that check on PostgreSQL (each locked only its own row)."""
    _, service, request = lab
    doubled: list[str] = []
    for trial in range(START_TRIALS):
        drafts = (service.create(request).id, service.create(request).id)
        answers = contenders.race(drafts, ("start", "start"))
        live = [e.id for e in service.list("p") if e.status in ("running", "ramping")]
        if sorted(answers.values()) != ["refused", "won"] or len(live) != 1:
            doubled.append(f"trial {trial}: answers {answers}, routing {live}")
        for exp_id in live:
            service.stop(exp_id, reason="reset between trials")
    assert doubled == [], f"{len(doubled)} of {START_TRIALS} trials:\n" + "\n".join(doubled[:10])
