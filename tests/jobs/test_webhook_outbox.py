"""The durable webhook outbox on SQLite and PostgreSQL: an event is stored before anything is posted, so
a process that stops before delivering loses none (the next runner delivers it, signed as before); a
receiver's 5xx is retried with backoff under the same delivery id, a 4xx is final with the reason; a
pass run as a job stores its events and the engine delivers them."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import update
from tests.autopilot.test_notify import Receiver
from tests.jobs.support import SECRET, dead_pid, deps

from promptevolve.autopilot import Event
from promptevolve.autopilot.outbox import Outbox, counts, get_delivery
from promptevolve.jobs import EmbeddedQueue, rows
from promptevolve.store.engine import Store
from promptevolve.store.tables import JobRow


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def event(n: int = 1) -> Event:
    return Event("ramp_step", "p", "ramp_step", f"step {n}", {"share": 5 * n}, n, 3)


def runner(store: Store) -> EmbeddedQueue:
    return EmbeddedQueue(deps(store), poll_s=0.05, heartbeat_s=0.1)


def test_events_stored_before_a_restart_are_all_delivered_by_the_next_process(store: Store, receiver) -> None:
    first = runner(store)  # a server that stores three events, then stops before delivering any
    sent = [event(n) for n in range(3)]
    outbox = Outbox(store)
    for e in sent:
        outbox.send(receiver.url, SECRET, e)
    first.close()
    assert counts(store) == {"pending": 3} and receiver.requests == []
    second = runner(store)  # the restarted process
    assert second.drain(30)
    assert counts(store) == {"delivered": 3}
    assert sorted(r["delivery"] for r in receiver.requests) == sorted(e.id for e in sent)
    assert all(r["valid"] for r in receiver.requests)  # signed as the in-memory notifier signs
    assert {r["body"]["reason"] for r in receiver.requests} == {"step 0", "step 1", "step 2"}
    assert second.relay_outbox() == 0  # each delivery got one job


def test_a_5xx_is_retried_with_backoff_under_the_same_delivery_id(store: Store, receiver) -> None:
    receiver.statuses = [503, 502]
    q = runner(store)
    e = event()
    Outbox(store).send(receiver.url, SECRET, e)
    started = time.monotonic()
    assert q.drain(30)
    assert [r["status"] for r in receiver.requests] == [503, 502, 200]
    assert {r["delivery"] for r in receiver.requests} == {e.id}
    assert time.monotonic() - started >= 0.5 + 1.0  # backoff 0.5 s, then 1 s
    delivered = get_delivery(store, e.id)
    assert delivered is not None and delivered.status == "delivered" and delivered.attempts == 3
    (job,) = q.list(kinds=["webhook"])[0]
    assert job.status == "succeeded" and job.attempts == 3


def test_a_4xx_is_final_and_says_why(store: Store, receiver) -> None:
    receiver.statuses = [410]
    q = runner(store)
    e = event()
    Outbox(store).send(receiver.url, SECRET, e)
    assert q.drain(30)
    failed = get_delivery(store, e.id)
    assert failed is not None and failed.status == "failed" and failed.last_error == "HTTP 410"
    (job,) = q.list(kinds=["webhook"])[0]
    assert job.status == "failed" and job.attempts == 1 and job.error_code == "delivery_failed"
    assert "HTTP 410" in (job.error or "") and len(receiver.requests) == 1
    assert q.retry(job.id).status == "queued"  # the receiver is fixed: a person sends it again
    assert q.drain(30)
    sent = get_delivery(store, e.id)
    assert sent is not None and sent.status == "delivered" and sent.attempts == 2
    assert [r["delivery"] for r in receiver.requests] == [e.id, e.id]


def test_a_delivery_whose_last_attempt_died_with_its_process_is_failed_with_the_reason(
    store: Store, receiver
) -> None:
    e = event()
    Outbox(store).send(receiver.url, SECRET, e)
    q = runner(store)
    assert q.relay_outbox() == 1
    (job,) = q.list(kinds=["webhook"])[0]
    with store.write() as s:  # its last attempt
        s.execute(update(JobRow).where(JobRow.id == job.id).values(max_attempts=1))
    dead = f"{socket.gethostname()}:{dead_pid()}:abcdef"
    assert rows.claim(store, job.id, worker=dead, now=time.time()) is not None
    assert [j.id for j in runner(store).recover()] == [job.id]
    failed = get_delivery(store, e.id)
    assert failed is not None and failed.status == "failed"
    assert (failed.last_error or "").startswith("interrupted by a restart") and receiver.requests == []


def test_an_event_without_a_secret_is_not_stored(store: Store, receiver) -> None:
    Outbox(store).send(receiver.url, None, event())
    assert counts(store) == {}
