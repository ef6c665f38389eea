"""The group commit behind run, track and feedback: many requests in one transaction, each told its own
outcome, and nothing acknowledged that is not stored."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy import func, select

from promptevolve.access import AuthenticationError, KeyService
from promptevolve.api.commits import GroupCommit, Row, Write
from promptevolve.core.errors import NotFoundError, StoreError, StoreUnavailableError
from promptevolve.core.ids import new_id
from promptevolve.store.engine import Store
from promptevolve.store.tables import Execution, Feedback


def execution_row(execution_id: str | None = None) -> Row:
    return (
        "executions",
        {
            "id": execution_id or new_id(),
            "prompt_id": None,
            "variant_id": None,
            "experiment_id": None,
            "arm": None,
            "unit_hash": None,
            "variables_hash": "0" * 64,
            "variables": {"company": "Acme"},
            "output": "ok",
            "model": "scripted",
            "latency_ms": 1.0,
            "prompt_tokens": 1,
            "completion_tokens": 1,
            "cost_usd": None,
            "status": "ok",
            "fallback_reason": None,
            "error_class": None,
            "error_message": None,
            "source": "run",
            "ts": time.time(),
        },
    )


def feedback_row(execution_id: str) -> Row:
    row = {"id": new_id(), "execution_id": execution_id, "kind": "thumbs", "value": 1.0, "text": None}
    return ("feedback", {**row, "source": "user", "created_by": "test", "ts": time.time()})


async def submit_all(commit: GroupCommit, writes: Sequence[Write]) -> list[BaseException | None]:
    """Submit every write at once (one event-loop turn), return each one's outcome."""
    try:
        results = await asyncio.gather(*(commit.submit(w) for w in writes), return_exceptions=True)
    finally:
        await commit.aclose()
    return [r if isinstance(r, BaseException) else None for r in results]


def stored(store: Store, model: Any) -> set[str]:
    with store.read() as s:
        return set(s.scalars(select(model.id)))


def test_concurrent_writes_are_committed_together_and_all_stored(store: Store) -> None:
    writes = [Write([execution_row()]) for _ in range(50)]
    commit = GroupCommit(store)

    outcomes = asyncio.run(submit_all(commit, writes))

    assert outcomes == [None] * 50
    assert stored(store, Execution) == {w.rows[0][1]["id"] for w in writes}
    assert commit.stats.batches <= commit.writers < 50  # one transaction per writer, not per request


def test_feedback_on_an_execution_of_the_same_batch_finds_it(store: Store) -> None:
    execution = execution_row()
    run = Write([execution])
    feedback = Write([feedback_row(execution[1]["id"])], requires=execution[1]["id"])
    commit = GroupCommit(store)
    commit.writers = 1  # both in one batch, whatever the database

    assert asyncio.run(submit_all(commit, [run, feedback])) == [None, None]
    assert stored(store, Feedback) == {feedback.rows[0][1]["id"]}


def test_feedback_on_an_unknown_execution_fails_alone(store: Store) -> None:
    known = execution_row()
    asyncio.run(submit_all(GroupCommit(store), [Write([known])]))
    good = [Write([feedback_row(known[1]["id"])], requires=known[1]["id"]) for _ in range(2)]
    bad = Write([feedback_row("nope")], requires="nope")

    outcomes = asyncio.run(submit_all(GroupCommit(store), [good[0], bad, good[1]]))

    assert outcomes[0] is None and outcomes[2] is None
    assert isinstance(outcomes[1], NotFoundError) and "'nope'" in str(outcomes[1])
    assert stored(store, Feedback) == {w.rows[0][1]["id"] for w in good}


def test_a_write_the_database_rejects_fails_alone(store: Store) -> None:
    taken = execution_row()
    asyncio.run(submit_all(GroupCommit(store), [Write([taken])]))
    others = [Write([execution_row()]) for _ in range(3)]
    duplicate = Write([execution_row(taken[1]["id"])])  # the same primary key again

    outcomes = asyncio.run(submit_all(GroupCommit(store), [others[0], duplicate, *others[1:]]))

    assert isinstance(outcomes[1], StoreError)
    assert [outcomes[0], *outcomes[2:]] == [None] * 3
    assert stored(store, Execution) == {taken[1]["id"]} | {w.rows[0][1]["id"] for w in others}


def test_a_key_revoked_after_it_was_checked_is_refused_at_commit(store: Store) -> None:
    keys = KeyService(store)
    kept = keys.authenticate(keys.create("kept", ["execute"]).key)
    revoked = keys.authenticate(keys.create("gone", ["execute"]).key)
    keys.revoke(revoked.prefix)
    ok, refused = Write([execution_row()], key=kept), Write([execution_row()], key=revoked)

    outcomes = asyncio.run(submit_all(GroupCommit(store), [ok, refused]))

    assert outcomes[0] is None
    assert isinstance(outcomes[1], AuthenticationError) and "revoked" in str(outcomes[1])
    assert stored(store, Execution) == {ok.rows[0][1]["id"]}


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_store_that_is_down_refuses_and_hands_run_rows_to_the_recorder(kind: str, tmp_path: Any) -> None:
    url = (
        f"sqlite:///{tmp_path}/missing/dir/db.sqlite"
        if kind == "sqlite"
        else "postgresql+psycopg://postgres@127.0.0.1:1/test"
    )
    down = Store.from_url(url)
    spilled: list[Row] = []
    run, feedback = Write([execution_row()], spill=True), Write([feedback_row("x")], requires="x")

    outcomes = asyncio.run(submit_all(GroupCommit(down, on_unavailable=spilled.extend), [run, feedback]))

    assert all(isinstance(o, StoreUnavailableError) for o in outcomes)
    assert spilled == list(run.rows)  # run's rows are kept for later; feedback is refused (503)
    down.dispose()


def test_nothing_is_stored_when_every_write_is_refused(store: Store) -> None:
    outcomes = asyncio.run(submit_all(GroupCommit(store), [Write([feedback_row("x")], requires="x")]))

    assert isinstance(outcomes[0], NotFoundError)
    with store.read() as s:
        assert s.scalar(select(func.count(Feedback.id))) == 0
