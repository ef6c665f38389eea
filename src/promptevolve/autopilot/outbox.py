"""The durable webhook outbox: each event is stored before anything is posted, so a restart loses none.

``Outbox`` is the event sink a pass hands its events to (as it would the in-memory ``Notifier``): one
row of ``webhook_deliveries`` per event, written after the decision's transaction has committed, with
the exact JSON body to post and the *name* of the environment variable holding the secret (never the
secret: a worker on another machine signs with its own copy, as ``notify`` describes). Delivering is the
job engine's work (``promptevolve.jobs.webhooks``): a relay turns each stored row into one ``webhook``
job, in the same transaction that marks the row as relayed, so a row is relayed once even when several
processes relay at the same time; the job posts it, retries with backoff and marks it delivered or
failed here.

This module owns every read and write of the table.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, delete, func, or_, select, update
from sqlalchemy.orm import Session

from promptevolve.autopilot.notify import Event
from promptevolve.store.engine import Store
from promptevolve.store.tables import WebhookDelivery, utcnow

__all__ = [
    "Outbox",
    "StoredDelivery",
    "attempted",
    "count_settled",
    "counts",
    "delete_settled",
    "get_delivery",
    "give_up",
    "relay",
]

log = logging.getLogger("promptevolve.autopilot")


@dataclass(frozen=True, slots=True)
class StoredDelivery:
    id: str
    url: str
    event: str
    body: str
    secret_env: str
    status: str
    attempts: int
    last_error: str | None


class Outbox:
    """Stores events (``send``); ``on_stored`` is called after each commit (the engine's nudge to relay
    at once rather than at its next poll)."""

    def __init__(self, store: Store, *, on_stored: Callable[[], object] | None = None) -> None:
        self._store, self._on_stored = store, on_stored

    @property
    def pending(self) -> int:
        """Nothing waits in this process: what is stored is the engine's to deliver."""
        return 0

    def send(
        self, url: str, secret: str | None, event: Event, *, secret_env: str = "PROMPTEVOLVE_WEBHOOK_SECRET"
    ) -> None:
        if not secret:
            log.warning(
                "webhook %s: no secret configured, %s not sent (set %s)", url, event.event, secret_env
            )
            return
        with self._store.write() as s:
            s.add(
                WebhookDelivery(
                    id=event.id,
                    url=url,
                    event=event.event,
                    body=event.body().decode(),
                    secret_env=secret_env,
                    status="pending",
                    attempts=0,
                    created_at=utcnow(),
                )
            )
        if self._on_stored is not None:
            self._on_stored()

    def flush(self, timeout_s: float) -> bool:
        return True

    def close(self, timeout_s: float = 0.0) -> None:
        return None


def _stored(row: WebhookDelivery) -> StoredDelivery:
    return StoredDelivery(
        row.id, row.url, row.event, row.body, row.secret_env, row.status, row.attempts, row.last_error
    )


def relay(store: Store, make_job: Callable[[Session, str], str], *, limit: int = 100) -> list[str]:
    """Give each stored, not yet relayed delivery its job (``make_job(session, delivery_id) → job id``,
    in the same transaction); returns the new jobs' ids. ``SKIP LOCKED`` on PostgreSQL, the write lock
    on SQLite: two relays never make two jobs for one delivery."""
    with store.write() as s:
        query = (
            select(WebhookDelivery)
            .where(WebhookDelivery.status == "pending", WebhookDelivery.job_id.is_(None))
            .order_by(WebhookDelivery.created_at)
            .limit(limit)
        )
        if store.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True)
        made = []
        for row in s.scalars(query).all():
            row.job_id = make_job(s, row.id)
            made.append(row.job_id)
        return made


def get_delivery(store: Store, delivery_id: str) -> StoredDelivery | None:
    with store.read() as s:
        row = s.get(WebhookDelivery, delivery_id)
        return _stored(row) if row is not None else None


def attempted(store: Store, delivery_id: str, *, error: str | None, final: bool = False) -> None:
    """One more attempt: delivered (``error`` None), or failed for now (or for good when ``final``). A
    failed delivery sent again (a person retried its job) goes back through the same states."""
    values: dict[str, object] = {"attempts": WebhookDelivery.attempts + 1, "last_error": error}
    if error is None:
        values.update(status="delivered", delivered_at=utcnow())
    elif final:
        values.update(status="failed")
    with store.write() as s:
        s.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id, WebhookDelivery.status != "delivered")
            .values(**values)
        )


def give_up(store: Store, delivery_id: str, *, reason: str) -> None:
    """Failed for good without another attempt (its job was interrupted with no attempts left)."""
    with store.write() as s:
        s.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id, WebhookDelivery.status == "pending")
            .values(status="failed", last_error=reason)
        )


def counts(store: Store) -> dict[str, int]:
    """Deliveries per status (pending, delivered, failed)."""
    with store.read() as s:
        rows = s.execute(select(WebhookDelivery.status, func.count()).group_by(WebhookDelivery.status))
        return {status: n for status, n in rows}


def _settled_before(cutoff: datetime, live_jobs: Select[str]) -> list[Any]:
    """Deliveries delivered before ``cutoff``, or failed for good and made before it (a failure has no
    time of its own: it comes within its attempts' backoff, minutes after the event), whose job is not
    queued or running (``live_jobs``: a person's retry may still send a failed one). Never a pending
    delivery."""
    return [
        or_(
            and_(WebhookDelivery.status == "delivered", WebhookDelivery.delivered_at < cutoff),
            and_(WebhookDelivery.status == "failed", WebhookDelivery.created_at < cutoff),
        ),
        or_(WebhookDelivery.job_id.is_(None), WebhookDelivery.job_id.not_in(live_jobs)),
    ]


def delete_settled(session: Session, *, before: datetime, live_jobs: Select[str], limit: int) -> int:
    """Delete up to ``limit`` settled deliveries (``_settled_before``) in the caller's transaction, by
    primary key; returns how many. The conditions are repeated on the DELETE, as in ``jobs.rows``."""
    where = _settled_before(before, live_jobs)
    chosen = select(WebhookDelivery.id).where(*where).order_by(WebhookDelivery.id).limit(limit)
    statement = delete(WebhookDelivery).where(WebhookDelivery.id.in_(chosen), *where)
    result: Any = session.execute(statement.execution_options(synchronize_session=False))  # no RETURNING
    return int(result.rowcount)


def count_settled(store: Store, *, before: datetime, live_jobs: Select[str]) -> int:
    """How many deliveries ``delete_settled`` would delete, all batches together (a dry run)."""
    with store.read() as s:
        where = _settled_before(before, live_jobs)
        return int(s.scalar(select(func.count()).select_from(WebhookDelivery).where(*where)) or 0)
