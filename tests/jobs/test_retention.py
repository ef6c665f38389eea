"""Retention on SQLite and PostgreSQL: old finished jobs and settled webhook deliveries are deleted, in
batches of bounded size; queued and running jobs, recent ones, pending deliveries and failed deliveries
a retried job may still send are kept; the engines prune by themselves at most once an hour; on
PostgreSQL a second pruner finds the lock held and stops; procrastinate's own old jobs go through its
builtin task."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event, func, select, text
from tests.jobs.support import DAY, NOW, delivery, delivery_ids, deps, job, job_ids

from promptevolve.autopilot.outbox import attempted, relay
from promptevolve.core.protocols import ManualClock
from promptevolve.jobs import EmbeddedQueue, JobSettings, open_queue, rows
from promptevolve.jobs.retention import Pruner, prune
from promptevolve.store.engine import Store
from promptevolve.store.locks import try_serialize


def test_prune_deletes_old_finished_jobs_and_settled_deliveries_and_keeps_everything_else(
    store: Store,
) -> None:
    old_done = {job(store, status, age_days=40) for status in ("succeeded", "failed", "cancelled")}
    # Queued and running rows carry an old finished_at too (as a retried job would if a path forgot to
    # clear it): only their status keeps them.
    kept_jobs = {
        job(store, "queued", age_days=40),
        job(store, "running", age_days=40),
        job(store, "succeeded", age_days=10),  # recent
    }
    old_settled = {delivery(store, "delivered", age_days=40), delivery(store, "failed", age_days=40)}
    retried = job(store, "queued", age_days=40, finished=False)  # a person retried its webhook job
    kept_deliveries = {
        delivery(store, "pending", age_days=40),  # never sent: kept however old
        delivery(store, "failed", age_days=40, job_id=retried),  # its queued job may still send it
        delivery(store, "delivered", age_days=10),
    }
    kept_jobs.add(retried)

    counted = prune(store, older_than_s=30 * DAY, now=NOW, dry_run=True)
    assert (counted.jobs, counted.deliveries, counted.dry_run) == (3, 2, True)
    assert job_ids(store) == old_done | kept_jobs  # a dry run deletes nothing
    assert delivery_ids(store) == old_settled | kept_deliveries

    done = prune(store, older_than_s=30 * DAY, now=NOW)
    assert (done.jobs, done.deliveries, done.complete) == (3, 2, True)
    assert done.cutoff == datetime.fromtimestamp(NOW - 30 * DAY, UTC)
    assert job_ids(store) == kept_jobs
    assert delivery_ids(store) == kept_deliveries
    again = prune(store, older_than_s=30 * DAY, now=NOW)
    assert (again.jobs, again.deliveries) == (0, 0)


def webhook_job(session: Any, delivery_id: str) -> str:
    return rows.add(session, "webhook", {"delivery": delivery_id}, actor="w", max_attempts=1).id


def test_a_delivery_sent_through_the_engine_is_pruned_with_its_job(store: Store) -> None:
    """The real path: relayed into a webhook job, posted, delivered; both rows go once old enough."""
    delivery_id = delivery(store, "pending", age_days=0)
    (job_id,) = relay(
        store, lambda s, d: rows.add(s, "webhook", {"delivery": d}, actor="w", max_attempts=1).id
    )
    claimed = rows.claim(store, job_id, worker="w", now=time.time())
    assert claimed is not None
    attempted(store, delivery_id, error=None)
    assert rows.finish(store, claimed, "succeeded")
    assert prune(store, older_than_s=DAY, now=time.time()).jobs == 0  # finished just now: kept
    done = prune(store, older_than_s=DAY, now=time.time() + 2 * DAY)
    assert (done.jobs, done.deliveries) == (1, 1)
    assert job_ids(store) == set() and delivery_ids(store) == set()


@pytest.fixture
def deletes(store: Store) -> Iterator[list[tuple[str, int]]]:
    """(table, rows deleted) of every DELETE the store runs while the test does."""
    seen: list[tuple[str, int]] = []

    def after(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        if statement.lstrip().upper().startswith("DELETE FROM"):
            seen.append((statement.split()[2].strip('"'), context.rowcount))

    event.listen(store.engine, "after_cursor_execute", after)
    yield seen
    event.remove(store.engine, "after_cursor_execute", after)


def test_more_rows_than_a_batch_are_deleted_a_batch_per_statement(store: Store, deletes) -> None:
    for n in range(23):
        job(store, "succeeded", age_days=40 + n)
    for n in range(7):
        delivery(store, "delivered", age_days=40 + n)
    kept = job(store, "succeeded", age_days=1)
    done = prune(store, older_than_s=30 * DAY, now=NOW, batch=5)
    assert (done.jobs, done.deliveries) == (23, 7)
    assert [n for table, n in deletes if table == "jobs"] == [5, 5, 5, 5, 3]
    assert [n for table, n in deletes if table == "webhook_deliveries"] == [5, 2]
    assert job_ids(store) == {kept}


def test_the_pruner_runs_at_most_once_an_hour_of_its_clock(store: Store) -> None:
    clock = ManualClock(start=NOW)
    pruner = Pruner(store, retention_days=30, clock=clock)
    first = job(store, "succeeded", age_days=31)
    assert (ran := pruner.run_if_due()) is not None and ran.jobs == 1  # the first call prunes at once
    second = job(store, "succeeded", age_days=31)
    clock.advance(3_599)
    assert pruner.run_if_due() is None  # within the hour: a comparison, no query
    assert second in job_ids(store) and first not in job_ids(store)
    clock.advance(1)
    assert (ran := pruner.run_if_due()) is not None and ran.jobs == 1
    assert second not in job_ids(store)
    recent = job(store, "succeeded", age_days=0)
    clock.advance(29 * DAY)  # the clock's cutoff moves with it: a day-old job is not 30 days old yet
    assert (ran := pruner.run_if_due()) is not None and ran.jobs == 0
    clock.advance(DAY + 1)
    assert (ran := pruner.run_if_due()) is not None and ran.jobs == 1
    assert recent not in job_ids(store)


def test_open_queue_gives_the_embedded_engine_a_pruner_unless_jobs_are_kept_forever(store: Store) -> None:
    pruning = open_queue(deps(store), JobSettings(retention_days=7))
    assert isinstance(pruning, EmbeddedQueue) and pruning.pruner is not None
    assert pruning.pruner.retention_days == 7
    forever = open_queue(deps(store), JobSettings(retention_days=None))
    assert isinstance(forever, EmbeddedQueue) and forever.pruner is None


def test_a_started_embedded_queue_prunes_by_itself(store: Store) -> None:
    old, queued = job(store, "failed", age_days=31), job(store, "queued", age_days=31, finished=False)
    q = EmbeddedQueue(deps(store), poll_s=0.05, pruner=Pruner(store, retention_days=30), kinds={})
    q.start()
    try:
        end = time.monotonic() + 30
        while old in job_ids(store) and time.monotonic() < end:
            time.sleep(0.05)
    finally:
        q.close()
    assert job_ids(store) == {queued}


def test_a_second_pruner_on_postgresql_stops_while_another_holds_the_lock(store: Store) -> None:
    if store.dialect != "postgresql":
        pytest.skip("SQLite has one writer at a time: its write lock already serialises pruners")
    old = job(store, "succeeded", age_days=40)
    with store.write() as other:  # another worker in the middle of a batch
        assert try_serialize(other, "jobs:retention")
        done = prune(store, older_than_s=30 * DAY, now=NOW)
    assert (done.jobs, done.complete) == (0, False)
    assert old in job_ids(store)
    assert prune(store, older_than_s=30 * DAY, now=NOW).jobs == 1  # the lock is free again


def test_procrastinate_old_jobs_go_through_its_builtin_task(postgres_database_url: str) -> None:
    """A cancelled procrastinate job whose last event is 40 days old is removed by the builtin
    ``remove_old_jobs`` (deferred on our queue, run by our worker app); one cancelled today is kept; a
    second defer while the first waits is refused by the queueing lock."""
    from promptevolve.jobs.procrastinate_engine import (
        QUEUE,
        TASK,
        ProcrastinateQueue,
        build_worker_app,
        defer_remove_old_jobs,
        ensure_schema,
    )

    store = Store.from_url(postgres_database_url)
    try:
        ensure_schema(store)
        # Two apps in one process, as run_worker builds them: procrastinate renames its builtin tasks
        # with each app, which must not break the cleanup.
        ProcrastinateQueue(deps(store), settings=JobSettings(engine="procrastinate"))
        app = build_worker_app(deps(store), {}, name="test", heartbeat_s=1.0)

        async def scenario() -> tuple[bool, bool]:
            async with app.open_async():
                ids = [
                    await app.configure_task(TASK, queue=QUEUE).defer_async(job_id=f"j{n}") for n in (1, 2)
                ]
                for job_id in ids:
                    await app.job_manager.cancel_job_by_id_async(job_id)
                await asyncio.to_thread(age_events, store, ids[0], days=40)
                first = await defer_remove_old_jobs(app, retention_days=30)
                second = await defer_remove_old_jobs(app, retention_days=30)
                await app.run_worker_async(
                    queues=[QUEUE], wait=False, install_signal_handlers=False, delete_jobs="successful"
                )
                return first, second

        assert asyncio.run(scenario()) == (True, False)
        with store.engine.connect() as conn:
            left = conn.execute(text("SELECT task_name, status::text FROM procrastinate_jobs")).all()
        assert [tuple(r) for r in left] == [(TASK, "cancelled")]  # the recent one; the builtin's own is gone
    finally:
        store.dispose()


def age_events(store: Store, job_id: int, *, days: int) -> None:
    """Make a procrastinate job's events ``days`` old (the test's only write to procrastinate's tables:
    the builtin decides by the time of the last event)."""
    with store.engine.begin() as conn:
        conn.execute(
            text("UPDATE procrastinate_events SET at = at - make_interval(days => :d) WHERE job_id = :j"),
            {"d": days, "j": job_id},
        )
        count = conn.execute(select(func.count()).select_from(text("procrastinate_events"))).scalar_one()
        assert count > 0
