"""Two processes change the same prompt at once: the share invariant must hold on both databases.

How the race is run, and why so (the test used to hang now and then): the parent never waits on a
barrier. It hands each contender a round number on its own queue; the two contenders meet at a barrier
of two, both call ``activate`` at once, and each reports what happened on one results queue: ``won``,
``refused`` (the invariant held) or the exception it met. The parent waits for two reports with a
bound, so a contender that fails is a message naming the error at once, not a barrier that breaks two
minutes later with no reason. The contenders' store waits up to a minute for the other's lock instead
of the default three seconds: on a loaded machine the loser of the race can wait longer than that, and
a lock timeout is not what this test is about (``tests/store/test_timeouts.py`` is).
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Iterator
from typing import Any

import pytest

from promptevolve.core.errors import TrafficShareError
from promptevolve.registry import Registry, VariantCreate
from promptevolve.store.engine import Store, StoreTimeouts

ROUNDS = 15
WAIT_S = 120  # the bound of every wait; never reached unless something is broken
PATIENT = StoreTimeouts(lock_s=60, pool_s=60)


def _contender(url: str, version: str, barrier: Any, jobs: Any, results: Any) -> None:
    store = Store.from_url(url, timeouts=PATIENT)
    registry = Registry(store, actor=f"proc-{version}")
    try:
        while (job := jobs.get(timeout=WAIT_S)) is not None:
            try:
                barrier.wait(timeout=WAIT_S)
                registry.activate("p", version, share=60)
                results.put((job, version, "won"))
            except TrafficShareError:
                results.put((job, version, "refused"))
            except Exception as exc:  # reported, so the parent fails with the reason at once
                results.put((job, version, f"error: {type(exc).__name__}: {exc}"))
    finally:
        store.dispose()


@pytest.fixture
def contenders(database_url: str) -> Iterator[tuple[list[Any], Any]]:
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(2)
    jobs = {v: ctx.Queue() for v in ("1.0.0", "1.1.0")}
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_contender, args=(database_url, v, barrier, jobs[v], results), daemon=True)
        for v in jobs
    ]
    for p in procs:
        p.start()
    try:
        yield list(jobs.values()), results
    finally:
        for q in jobs.values():
            q.put(None)
        for p in procs:
            p.join(timeout=WAIT_S)
            if p.is_alive():
                p.terminate()
                p.join(timeout=10)


def test_concurrent_activation_from_two_processes_never_exceeds_100_percent(database_url, contenders):
    jobs, results = contenders
    store = Store.from_url(database_url)
    registry = Registry(store, actor="setup")
    for body in ("A {{ x }}", "B {{ x }}"):
        registry.register(VariantCreate(prompt="p", template=body))
    winners_per_round = []
    try:
        for round_no in range(ROUNDS):
            for q in jobs:
                q.put(round_no)
            outcomes = [results.get(timeout=WAIT_S) for _ in range(2)]
            errors = [o for o in outcomes if o[2].startswith("error")]
            assert not errors, errors
            assert {o[0] for o in outcomes} == {round_no}
            active = registry.get_prompt("p").active
            assert sum(active.values()) <= 100.0, active
            winners_per_round.append(sum(1 for o in outcomes if o[2] == "won"))
            for version in list(active):
                registry.deactivate("p", version)
    finally:
        store.dispose()
    assert winners_per_round == [1] * ROUNDS, "exactly one of two 60 % activations may win each round"
