"""Per-prompt leases held in the store: at most one autopilot works on a prompt at a time.

Two autopilots (two cron jobs, two ``serve`` processes, a ``run --once`` beside a server) may run
passes at the same moment. Each takes the prompt's lease before doing anything to it; the one that
does not get it leaves the prompt for this pass. The lease is one row of ``autopilot_leases``:

    INSERT … ON CONFLICT (prompt_id) DO UPDATE SET holder = …, expires_at = …
        WHERE autopilot_leases.expires_at < :now OR autopilot_leases.holder = :me

then, in the same transaction, reading the row back says who holds it. PostgreSQL serialises the two
upserts on the row (the second waits for the first to commit, then re-checks the ``WHERE``); SQLite's
write transactions are serial (``BEGIN IMMEDIATE``). Either way exactly one holder wins.

**Expiry.** A lease lasts ``ttl_s`` (10 minutes by default) unless renewed. While a prompt's step runs
(an evolution round can take minutes with a local model), a heartbeat thread renews it every
``ttl_s / 3``, so a live holder keeps it and a crashed one (killed, machine gone) loses it within
``ttl_s``. The lease also carries the current ``phase`` (``analyzing``, ``evolving`` …) that
``autopilot status`` shows. Releasing deletes the row if it is still ours.

Even without leases, experiment analyses could not double-apply a ramp step (``ExperimentService``
locks the experiment row); the lease is what keeps two autopilots from evolving twice or starting two
experiments from one candidate.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from promptevolve.core.errors import PromptevolveError
from promptevolve.core.protocols import Clock
from promptevolve.store.engine import Store
from promptevolve.store.tables import AutopilotLease

__all__ = [
    "DEFAULT_TTL_S",
    "Held",
    "LeaseInfo",
    "acquire",
    "held",
    "holder_id",
    "read_lease",
    "release",
    "renew",
]

DEFAULT_TTL_S = 600.0
log = logging.getLogger("promptevolve.autopilot")


@dataclass(frozen=True, slots=True)
class LeaseInfo:
    prompt_id: int
    holder: str
    phase: str | None
    acquired_at: float
    expires_at: float


def holder_id() -> str:
    """A name for this process: host, pid and a random suffix (a restarted pid is another holder)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def acquire(
    store: Store, prompt_id: int, holder: str, *, now: float, ttl_s: float, phase: str | None = None
) -> bool:
    """Take the prompt's lease if it is free, expired or already ours; True if we hold it now."""
    insert = pg_insert if store.dialect == "postgresql" else sqlite_insert
    stmt = insert(AutopilotLease).values(
        prompt_id=prompt_id, holder=holder, phase=phase, acquired_at=now, expires_at=now + ttl_s
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["prompt_id"],
        set_={
            "holder": stmt.excluded.holder,
            "phase": stmt.excluded.phase,
            "acquired_at": stmt.excluded.acquired_at,
            "expires_at": stmt.excluded.expires_at,
        },
        where=or_(AutopilotLease.expires_at < now, AutopilotLease.holder == holder),
    )
    with store.write() as s:
        s.execute(stmt)
        return s.scalar(select(AutopilotLease.holder).where(AutopilotLease.prompt_id == prompt_id)) == holder


def renew(
    store: Store, prompt_id: int, holder: str, *, now: float, ttl_s: float, phase: str | None = None
) -> bool:
    """Extend our lease (and set its phase); False if it is no longer ours."""
    values: dict[str, object] = {"expires_at": now + ttl_s}
    if phase is not None:
        values["phase"] = phase
    with store.write() as s:
        result = s.execute(
            update(AutopilotLease)
            .where(AutopilotLease.prompt_id == prompt_id, AutopilotLease.holder == holder)
            .values(**values)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


def release(store: Store, prompt_id: int, holder: str) -> None:
    with store.write() as s:
        s.execute(
            delete(AutopilotLease).where(
                AutopilotLease.prompt_id == prompt_id, AutopilotLease.holder == holder
            )
        )


def read_lease(store: Store, prompt_id: int) -> LeaseInfo | None:
    with store.read() as s:
        row = s.get(AutopilotLease, prompt_id)
        if row is None:
            return None
        return LeaseInfo(row.prompt_id, row.holder, row.phase, row.acquired_at, row.expires_at)


class Held:
    """A lease we hold, kept alive by a heartbeat thread; ``phase`` updates what status shows."""

    def __init__(self, store: Store, prompt_id: int, holder: str, clock: Clock, ttl_s: float) -> None:
        self.store, self.prompt_id, self.holder = store, prompt_id, holder
        self._clock, self._ttl = clock, ttl_s
        self._stop = threading.Event()
        self.lost = False
        self._thread = threading.Thread(target=self._beat, name=f"lease-{prompt_id}", daemon=True)

    def phase(self, phase: str) -> None:
        self._renew(phase)

    def _renew(self, phase: str | None = None) -> None:
        try:
            ok = renew(
                self.store, self.prompt_id, self.holder, now=self._clock.now(), ttl_s=self._ttl, phase=phase
            )
        except PromptevolveError as exc:  # the store hiccuped: try again at the next beat
            log.warning("could not renew the autopilot lease on prompt %s: %s", self.prompt_id, exc)
            return
        if not ok and not self.lost:
            self.lost = True
            log.error("the autopilot lease on prompt %s was lost (expired and taken over)", self.prompt_id)

    def _beat(self) -> None:
        while not self._stop.wait(self._ttl / 3):
            self._renew()


@contextmanager
def held(
    store: Store, prompt_id: int, holder: str, *, clock: Clock, ttl_s: float = DEFAULT_TTL_S
) -> Iterator[Held | None]:
    """Hold the prompt's lease for the block (None when another holder has it); released at the end."""
    if not acquire(store, prompt_id, holder, now=clock.now(), ttl_s=ttl_s, phase="starting"):
        yield None
        return
    lease = Held(store, prompt_id, holder, clock, ttl_s)
    lease._thread.start()
    try:
        yield lease
    finally:
        lease._stop.set()
        lease._thread.join(timeout=5)
        try:
            release(store, prompt_id, holder)
        except PromptevolveError as exc:  # it expires by itself
            log.warning("could not release the autopilot lease on prompt %s: %s", prompt_id, exc)
