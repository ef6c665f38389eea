"""Webhook notifications of the autopilot's decisions: signed JSON, retried, never blocking the pass.

**What is sent.** One POST per event (``experiment_started``, ``ramp_step``, ``winner_found``,
``promoted``, ``experiment_concluded``, ``rollback``, ``budget_exhausted``, ``drift_detected``,
``candidate_ready``), body::

    {"id": "<delivery id>", "event": "ramp_step", "prompt": "ai_enrichment_en", "at": "<ISO time>",
     "decision_id": 42, "experiment_id": 7, "action": "ramp_step", "reason": "…", "figures": {…}}

**Signature** (as Stripe and GitHub do it): headers ``X-Promptevolve-Timestamp: <unix seconds>`` and
``X-Promptevolve-Signature: sha256=<hex>``, the HMAC-SHA256 with the shared secret of
``"<timestamp>." + <raw body bytes>``. A receiver recomputes it over the raw body (before parsing),
compares in constant time, and refuses timestamps older than a few minutes (replays); ``verify`` does
exactly that. ``X-Promptevolve-Delivery`` repeats the id, equal on every retry of a delivery, so a
receiver can drop duplicates. Without a secret nothing is sent (an unsigned hook cannot be trusted),
and a warning says so.

**Delivery.** Events are queued and posted by one background thread, after the transaction that made
the decision has committed, so a slow or dead receiver never holds a pass or a lock. Each delivery is
retried on connection errors, timeouts, 408, 429 and 5xx with exponential backoff (0.5 s, 1 s, 2 s…)
within ``attempts`` and a ``deadline_s`` per delivery; other 4xx answers are final. Failures are logged
(``promptevolve.autopilot`` logger) and counted; ``flush(timeout)`` waits a bounded time for the queue
to drain (``run --once`` calls it before exiting).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx

from promptevolve.core.ids import new_id

__all__ = [
    "DELIVERY_HEADER",
    "EVENTS",
    "RETRY_STATUS",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "Delivery",
    "Event",
    "EventSink",
    "Notifier",
    "sign",
    "signed_headers",
    "verify",
]

SIGNATURE_HEADER = "X-Promptevolve-Signature"
TIMESTAMP_HEADER = "X-Promptevolve-Timestamp"
DELIVERY_HEADER = "X-Promptevolve-Delivery"
EVENTS = (
    "experiment_started",
    "ramp_step",
    "winner_found",
    "promoted",
    "experiment_concluded",
    "rollback",
    "budget_exhausted",
    "drift_detected",
    "candidate_ready",
)
#: Answers worth another attempt besides 5xx.
RETRY_STATUS = frozenset({408, 429})
log = logging.getLogger("promptevolve.autopilot")


@dataclass(frozen=True, slots=True)
class Event:
    event: str
    prompt: str
    action: str
    reason: str
    figures: Mapping[str, Any] = field(default_factory=dict)
    decision_id: int | None = None
    experiment_id: int | None = None
    id: str = field(default_factory=new_id)
    at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    def body(self) -> bytes:
        doc = {
            "id": self.id,
            "event": self.event,
            "prompt": self.prompt,
            "at": self.at,
            "decision_id": self.decision_id,
            "experiment_id": self.experiment_id,
            "action": self.action,
            "reason": self.reason,
            "figures": dict(self.figures),
        }
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":"), default=str).encode()


@dataclass(frozen=True, slots=True)
class Delivery:
    url: str
    secret: str
    event: Event


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of ``timestamp + "." + body`` with ``secret``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def signed_headers(secret: str, body: bytes, *, delivery_id: str, event: str, now: float) -> dict[str, str]:
    """The headers of one attempt: signature over ``timestamp.body``, the delivery id, the event."""
    timestamp = str(int(now))
    return {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign(secret, timestamp, body),
        TIMESTAMP_HEADER: timestamp,
        DELIVERY_HEADER: delivery_id,
        "X-Promptevolve-Event": event,
    }


def verify(
    secret: str, timestamp: str, body: bytes, signature: str, *, now: float, tolerance_s: float = 300.0
) -> bool:
    """What a receiver does: the signature matches (constant time) and the timestamp is recent."""
    try:
        age = abs(now - float(timestamp))
    except ValueError:
        return False
    return age <= tolerance_s and hmac.compare_digest(sign(secret, timestamp, body), signature)


class EventSink(Protocol):
    """Where a pass hands its events: this module's ``Notifier`` (in memory, posted by a thread) or the
    durable ``autopilot.outbox.Outbox`` (stored, posted by the job engine)."""

    @property
    def pending(self) -> int: ...

    def send(self, url: str, secret: str | None, event: Event, *, secret_env: str = ...) -> None: ...

    def flush(self, timeout_s: float) -> bool: ...

    def close(self, timeout_s: float = ...) -> None: ...


class Notifier:
    """Posts deliveries on a background thread (see the module docstring). ``transport`` lets tests use
    httpx's mock transport; ``sleep`` and ``clock`` are injectable for the backoff."""

    def __init__(
        self,
        *,
        timeout_s: float = 5.0,
        attempts: int = 4,
        backoff_s: float = 0.5,
        deadline_s: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._timeout, self._attempts, self._backoff, self._deadline = (
            timeout_s,
            attempts,
            backoff_s,
            deadline_s,
        )
        self._transport, self._sleep, self._clock = transport, sleep, clock
        self._queue: queue.Queue[Delivery | None] = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.delivered = 0
        self.failed = 0

    @property
    def pending(self) -> int:
        """Deliveries queued or in flight."""
        return self._queue.unfinished_tasks

    def send(
        self, url: str, secret: str | None, event: Event, *, secret_env: str = "PROMPTEVOLVE_WEBHOOK_SECRET"
    ) -> None:
        """Queue one event (never raises, never waits); ``secret_env`` only matters to the outbox."""
        if not secret:
            log.warning(
                "webhook %s: no secret configured, %s not sent (set PROMPTEVOLVE_WEBHOOK_SECRET)",
                url,
                event.event,
            )
            return
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._work, name="autopilot-webhook", daemon=True)
                self._thread.start()
        self._queue.put(Delivery(url, secret, event))

    def flush(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for queued deliveries; False if some are still pending."""
        end = time.monotonic() + timeout_s
        while self.pending:
            if time.monotonic() >= end:
                return False
            time.sleep(0.01)
        return True

    def close(self, timeout_s: float = 10.0) -> None:
        self.flush(timeout_s)
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout=1.0)

    def _work(self) -> None:
        with httpx.Client(timeout=self._timeout, transport=self._transport) as client:
            while True:
                delivery = self._queue.get()
                try:
                    if delivery is None:
                        return
                    ok = self._deliver(client, delivery)
                    with self._lock:
                        if ok:
                            self.delivered += 1
                        else:
                            self.failed += 1
                except Exception:  # a notifier must never die: log and go on
                    log.exception("webhook delivery crashed")
                finally:
                    self._queue.task_done()

    def _deliver(self, client: httpx.Client, delivery: Delivery) -> bool:
        body = delivery.event.body()
        started = time.monotonic()
        problem = ""
        for attempt in range(self._attempts):
            headers = signed_headers(
                delivery.secret,
                body,
                delivery_id=delivery.event.id,
                event=delivery.event.event,
                now=self._clock(),
            )
            try:
                response = client.post(delivery.url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if response.is_success:
                    return True
                problem = f"HTTP {response.status_code}"
                if response.status_code < 500 and response.status_code not in RETRY_STATUS:
                    break
            wait = self._backoff * 2**attempt
            if attempt + 1 >= self._attempts or time.monotonic() - started + wait > self._deadline:
                break
            self._sleep(wait)
        log.warning(
            "webhook %s: %s (%s) not delivered: %s",
            delivery.url,
            delivery.event.event,
            delivery.event.id,
            problem,
        )
        return False
