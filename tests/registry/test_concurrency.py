"""Two processes change the same prompt at once: the share invariant must hold on both databases."""

from __future__ import annotations

import multiprocessing as mp

from promptevolve.core.errors import TrafficShareError
from promptevolve.registry import Registry, VariantCreate
from promptevolve.store.engine import Store

ROUNDS = 15


def _contender(url: str, version: str, barrier, results) -> None:
    store = Store.from_url(url)
    registry = Registry(store, actor=f"proc-{version}")
    for _ in range(ROUNDS):
        barrier.wait(timeout=120)
        try:
            registry.activate("p", version, share=60)
            results.put((version, "won"))
        except TrafficShareError:
            results.put((version, "refused"))
        barrier.wait(timeout=120)  # the parent checks and resets between rounds
        barrier.wait(timeout=120)
    store.dispose()


def test_concurrent_activation_from_two_processes_never_exceeds_100_percent(database_url):
    store = Store.from_url(database_url)
    registry = Registry(store, actor="setup")
    for body in ("A {{ x }}", "B {{ x }}"):
        registry.register(VariantCreate(prompt="p", template=body))
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(3), ctx.Queue()
    procs = [
        ctx.Process(target=_contender, args=(database_url, v, barrier, results)) for v in ("1.0.0", "1.1.0")
    ]
    for p in procs:
        p.start()
    winners_per_round = []
    for _ in range(ROUNDS):
        barrier.wait(timeout=120)
        barrier.wait(timeout=120)
        outcomes = [results.get(timeout=60) for _ in range(2)]
        active = registry.get_prompt("p").active
        assert sum(active.values()) <= 100.0, active
        winners_per_round.append(sum(1 for _, o in outcomes if o == "won"))
        for version in list(active):
            registry.deactivate("p", version)
        barrier.wait(timeout=120)
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert winners_per_round == [1] * ROUNDS, "exactly one of two 60 % activations may win each round"
    store.dispose()
