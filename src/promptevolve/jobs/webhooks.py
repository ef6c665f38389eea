"""Webhook deliveries as jobs: the outbox's rows (``autopilot.outbox``) posted, signed, retried.

``relay`` gives each stored delivery one ``webhook`` job (in the transaction that marks the row as
relayed); every engine relays at each poll, so a delivery stored by a process that died before relaying
it is still sent. The ``webhook`` job posts the stored body once per attempt, signed as ``notify``
describes (a fresh timestamp per attempt, the same delivery id on every one, so receivers drop
duplicates); a connection error, a timeout, 408, 429 or 5xx is retried with backoff (0.5 s, 1 s, 2 s…)
within ``PROMPTEVOLVE_NOTIFY_ATTEMPTS``; another 4xx, or the last attempt, marks the delivery failed with
the reason. A worker killed mid-post is retried elsewhere (``resume_after_interrupt``): a receiver may
then see a delivery twice, never none. A failed delivery is sent again when a person retries its job
(``POST /jobs/{id}/retry``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import httpx
from sqlalchemy.orm import Session

from promptevolve.autopilot import AutopilotSettings
from promptevolve.autopilot.notify import RETRY_STATUS, signed_headers
from promptevolve.autopilot.outbox import Outbox, attempted, get_delivery, give_up
from promptevolve.core.errors import ConfigurationError, DeliveryError, NotFoundError, ValidationError
from promptevolve.jobs import rows
from promptevolve.jobs.kinds import JobKind
from promptevolve.jobs.models import JobDeps, JobInfo

if TYPE_CHECKING:
    from promptevolve.jobs.execute import Checkpoint

__all__ = ["WebhookJob", "make_webhook_job", "outbox_for"]


def outbox_for(deps: JobDeps) -> Outbox:
    """The event sink of passes run as jobs: stored, then relayed by the engine's next poll."""
    return Outbox(deps.store)


def _secret(settings: AutopilotSettings, env: str) -> str | None:
    if env == "PROMPTEVOLVE_WEBHOOK_SECRET" and settings.webhook_secret is not None:
        return settings.webhook_secret.get_secret_value()
    return os.environ.get(env)


def make_webhook_job(deps: JobDeps, session: Session, delivery_id: str) -> str:
    """The job of one delivery, added in the relay's transaction."""
    kind = WebhookJob()
    return rows.add(
        session, kind.name, {"delivery": delivery_id}, actor="webhook", max_attempts=kind.attempts(deps)
    ).id


class WebhookJob(JobKind):
    name: ClassVar[str] = "webhook"
    backoff_s = 0.5
    resume_after_interrupt = True

    def attempts(self, deps: JobDeps) -> int:
        return deps.autopilot.notify_attempts

    def validate(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        delivery = payload.get("delivery")
        if not isinstance(delivery, str) or not delivery:
            raise ValidationError("a webhook job names its delivery: {'delivery': '<id>'}")
        return {"delivery": delivery}

    def retryable(self, exc: BaseException) -> bool:
        return isinstance(exc, DeliveryError) and exc.retryable

    def gave_up(self, deps: JobDeps, job: JobInfo, error: str) -> None:
        give_up(deps.store, str(job.payload.get("delivery", "")), reason=error)

    def run(self, deps: JobDeps, job: JobInfo, point: Checkpoint) -> dict[str, Any]:
        delivery = get_delivery(deps.store, str(job.payload["delivery"]))
        if delivery is None:
            raise NotFoundError(f"no webhook delivery {job.payload['delivery']!r} in the outbox")
        if delivery.status == "delivered":  # an attempt that died after posting, or a duplicate job
            return {"delivery": delivery.id, "status": delivery.status}
        secret = _secret(deps.autopilot, delivery.secret_env)
        if not secret:
            attempted(deps.store, delivery.id, error=f"{delivery.secret_env} not set", final=True)
            raise ConfigurationError(
                f"webhook delivery {delivery.id}: {delivery.secret_env} is not set in this worker's "
                "environment, so the event cannot be signed"
            )
        body = delivery.body.encode()
        headers = signed_headers(secret, body, delivery_id=delivery.id, event=delivery.event, now=time.time())
        problem, retry = self._post(deps, delivery.url, body, headers)
        if problem is None:
            attempted(deps.store, delivery.id, error=None)
            return {"delivery": delivery.id, "status": "delivered", "url": delivery.url}
        final = not retry or job.attempts >= job.max_attempts
        attempted(deps.store, delivery.id, error=problem, final=final)
        raise DeliveryError(
            f"webhook {delivery.url}: {delivery.event} ({delivery.id}): {problem}", retryable=retry
        )

    @staticmethod
    def _post(deps: JobDeps, url: str, body: bytes, headers: dict[str, str]) -> tuple[str | None, bool]:
        """(problem or None, whether another attempt may succeed)."""
        try:
            with httpx.Client(timeout=deps.autopilot.notify_timeout_s, transport=deps.transport) as client:
                response = client.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}", True
        if response.is_success:
            return None, False
        status = response.status_code
        return f"HTTP {status}", status >= 500 or status in RETRY_STATUS
