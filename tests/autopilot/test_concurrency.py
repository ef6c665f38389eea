"""Two ``run --once`` at the same moment, in two processes (SQLite and PostgreSQL): one evolution round,
one experiment, each ramp step applied once; the per-prompt lease in the store decides who works.

The passes' store waits up to a minute for a lock instead of the default three seconds: a pass analyses
the experiment and refreshes its rollups in transactions that took up to 2.7 s under a load of 6 on one
core (``tests/experiments/test_concurrent_analysis.py``), and a lock timeout is not what this test is
about (``tests/store/test_timeouts.py`` is)."""

from __future__ import annotations

import multiprocessing as mp

from sqlalchemy import func, select
from tests.autopilot.support import Model, SimProvider, make_world, set_policy
from tests.seeds import derive_experiment_seeds

from promptevolve.compose import compose, compose_autopilot
from promptevolve.store.engine import Store, StoreTimeouts
from promptevolve.store.tables import Decision, Experiment

PROCESSES = 2
PATIENT = StoreTimeouts(lock_s=60, pool_s=60)


def _pilot(url: str, barrier, results, rounds: int, nodeid: str, salt: str) -> None:
    derive_experiment_seeds(nodeid, salt)  # the experiment a pass starts here: no SRM alarm at random
    store = Store.from_url(url, timeouts=PATIENT)
    autopilot = compose_autopilot(compose(store, actor="autopilot", providers={"sim": SimProvider(Model())}))
    try:
        for _ in range(rounds):
            barrier.wait()
            report = autopilot.run_once()
            results.put([(p.outcome, [s.action for s in p.steps if s.logged]) for p in report.prompts])
            barrier.wait()
    finally:
        store.dispose()


def counts(store, *actions: str) -> dict[str, int]:
    with store.read() as s:
        rows = s.execute(
            select(Decision.action, func.count())
            .where(Decision.action.in_(actions))
            .group_by(Decision.action)
        ).all()
    return {action: dict(rows).get(action, 0) for action in actions}


def test_two_concurrent_passes_never_double_apply_an_action(store, database_url, request):
    world = make_world(store)
    set_policy(world, "autonomous")
    world.traffic(300)
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(PROCESSES + 1), ctx.Queue()
    procs = [
        ctx.Process(target=_pilot, args=(database_url, barrier, results, 2, request.node.nodeid, str(n)))
        for n in range(PROCESSES)
    ]
    for p in procs:
        p.start()
    try:
        barrier.wait()  # round 1: both evolve? only one may
        outcomes = [results.get(timeout=180) for _ in range(PROCESSES)]
        barrier.wait()
        assert counts(store, "evolved", "experiment_started") == {"evolved": 1, "experiment_started": 1}, (
            outcomes
        )
        with store.read() as s:
            assert s.scalar(select(func.count()).select_from(Experiment)) == 1
        world.optimizer.cache.invalidate("colours")  # the other processes changed the routing
        service = compose(store).experiments
        exp_id = service.list("colours")[0].id
        for _ in range(8):  # until the next ramp step is due
            world.traffic(300)
            if service.analyze(exp_id, apply=False).actions:
                break
        before = counts(store, "ramp_step", "measure")
        barrier.wait()  # round 2: the step is due once
        outcomes = [results.get(timeout=180) for _ in range(PROCESSES)]
        barrier.wait()
        after = counts(store, "ramp_step", "measure")
        steps = sum(after.values()) - sum(before.values())
        assert steps == 1, (before, after, outcomes)
    except BaseException:
        barrier.abort()  # release the pilots instead of waiting for them (never after a clean round:
        raise  # a pilot still waking from the last wait would see a broken barrier)
    finally:
        for p in procs:
            p.join(timeout=60)
            if p.is_alive():
                p.terminate()
        world.close()
    assert all(p.exitcode == 0 for p in procs)
    with store.read() as s:
        assert s.scalar(select(func.count()).select_from(Experiment)) == 1
