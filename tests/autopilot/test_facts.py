"""What a pass reads before it decides is read in one transaction (``facts.gather``)."""

from __future__ import annotations

from sqlalchemy import event
from tests.autopilot.support import PROMPT, make_world, set_policy

from promptevolve.autopilot import facts, get_policy
from promptevolve.store.engine import Store


def test_gather_reads_every_fact_in_one_transaction(store: Store) -> None:
    world = make_world(store)
    set_policy(world, "propose")
    policy = get_policy(world.registry, PROMPT)
    assert policy is not None
    pid = facts.prompt_id(store, PROMPT)
    begins: list[object] = []

    def began(conn: object) -> None:
        begins.append(conn)

    event.listen(store.engine, "begin", began)
    try:
        found = facts.gather(store, world.registry, PROMPT, pid, policy, now=1_800_000_000.0)
    finally:
        event.remove(store.engine, "begin", began)
        world.optimizer.close()
    assert found.serving == "1.0.0" and found.candidate is None and found.rounds == 0
    assert len(begins) == 1  # registry, candidates, budget, drift and decision log: one transaction
