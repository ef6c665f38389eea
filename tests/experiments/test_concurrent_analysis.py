"""Two processes analyse the same experiment at once: each ramp step is applied exactly once.

The analysts' store waits up to a minute for the other's lock instead of the default three seconds: one
analysis of this lab took up to 0.66 s on a quiet machine and 2.7 s under a load of 6 on one core, a
tenth short of the 3 s that the analyst waiting for the other's transaction may wait on CI's loaded
machine, and a lock timeout is not what this test is about (``tests/store/test_timeouts.py`` is)."""

from __future__ import annotations

import multiprocessing as mp

from sqlalchemy import select
from tests.experiments.support import make_lab

from promptevolve.compose import compose
from promptevolve.experiments import ExperimentCreate
from promptevolve.store.engine import Store, StoreTimeouts
from promptevolve.store.tables import Decision

PROCESSES = 2
ROUNDS = 3
PATIENT = StoreTimeouts(lock_s=60, pool_s=60)


def _analyst(url: str, exp_id: int, barrier, results) -> None:
    store = Store.from_url(url, timeouts=PATIENT)
    service = compose(store, actor=f"analyst-{mp.current_process().name}").experiments
    try:
        for _ in range(ROUNDS):
            barrier.wait()
            results.put(service.analyze(exp_id).actions)
            barrier.wait()
    finally:
        store.dispose()


def test_concurrent_analyses_apply_each_ramp_step_once(store, database_url):
    lab = make_lab(store)
    info = lab.service.create(
        ExperimentCreate(
            prompt="p",
            control="1.0.0",
            treatments=["1.1.0"],
            metric="thumbs",
            min_sample=10**6,
            ramp=[2, 5, 10, 25, 50, 100],
            min_units_per_step=10,
            guardrails=[],
            srm_grace_s=0,
        )
    )
    lab.service.start(info.id)
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(PROCESSES + 1), ctx.Queue()
    procs = [
        ctx.Process(target=_analyst, args=(database_url, info.id, barrier, results)) for _ in range(PROCESSES)
    ]
    for p in procs:
        p.start()
    try:
        for round_ in range(ROUNDS):
            lab.optimizer.cache.invalidate("p")  # another process changed the shares: see them now
            lab.drive(1500)  # enough for the treatment to pass its step (>= 10 units at 2 %)
            barrier.wait()
            outcomes = [results.get(timeout=120) for _ in range(PROCESSES)]
            barrier.wait()
            assert sorted(map(tuple, outcomes)) == [(), ("ramp_step",)], f"round {round_}: {outcomes}"
            assert lab.service.get(info.id).ramp_step == round_ + 1
    except BaseException:
        barrier.abort()  # on a failure, release the analysts instead of waiting for them
        raise
    finally:
        for p in procs:
            p.join(timeout=60)
            if p.is_alive():
                p.terminate()
        lab.close()
    assert all(p.exitcode == 0 for p in procs)
    with store.read() as s:
        steps = s.scalars(select(Decision.action).where(Decision.action == "ramp_step")).all()
    assert len(steps) == ROUNDS
