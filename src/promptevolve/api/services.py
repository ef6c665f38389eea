"""What one API app serves with, built when the app starts (its lifespan) and closed when it stops.

Nothing is built at import: ``open_services`` opens the store, builds the SDK's ``PromptOptimizer``
(cache, recorder, registry) and the services on top of it, and ``close`` drains the recorder and
disposes of the engine. The services are composed once (``promptevolve.compose``) and share the optimizer's
cache invalidation, so a change made through the API, or by an evolution or autopilot it starts, is
served by this process at once (other processes see it within the cache's TTL, as for any SDK).

The autopilot's approvals run in the request (``Services.autopilot``: one ``Autopilot`` a request, so
each has its own lease holder); their webhook events are stored in the outbox and delivered as jobs.

Background work (evaluations, evolutions, autopilot passes, webhook deliveries) goes through one
``JobQueue`` (``promptevolve.jobs``): rows of the ``jobs`` table, run by this process's threads (the
embedded engine, the default) or by ``promptevolve worker`` processes (procrastinate); every replica
reads the same rows.

``run`` and ``track`` answer only once their execution is committed (so feedback sent to another
worker finds it), and feedback only once it is: the rows a request's SDK call records are captured
(``api.capture``) and committed with those of every other request waiting, in one transaction
(``api.commits``). The SDK's recorder only keeps what a request could not commit (the store down), and
writes it when the store is back. API keys are checked once per key and ``key_cache_s``
(``api.keycache``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from promptevolve.access import ApiKeyInfo, KeyService
from promptevolve.api.capture import CapturingRecorder
from promptevolve.api.commits import GroupCommit, Row, Write
from promptevolve.api.keycache import KeyCache
from promptevolve.autopilot import Autopilot, AutopilotSettings, load_autopilot_settings
from promptevolve.client import AsyncPromptOptimizer, PromptOptimizer
from promptevolve.compose import Parts, compose, compose_autopilot
from promptevolve.core.errors import StoreError, StoreUnavailableError
from promptevolve.core.protocols import Provider
from promptevolve.core.settings import Settings
from promptevolve.evolution import EvolutionService
from promptevolve.experiments import ExperimentService
from promptevolve.jobs import JobDeps, JobQueue, JobSettings, load_job_settings, open_queue
from promptevolve.registry import Registry
from promptevolve.store.engine import Store
from promptevolve.store.migrate import open_store

__all__ = ["ApiSettings", "Services", "commit_recorded", "open_services"]

logger = logging.getLogger("promptevolve.api")


class ApiSettings(BaseSettings):
    """Settings of the HTTP surface (``PROMPTEVOLVE_API_*``)."""

    model_config = SettingsConfigDict(env_prefix="PROMPTEVOLVE_API_", extra="ignore")

    max_body_bytes: int = Field(default=1_048_576, ge=1024, description="Larger request bodies get 413")
    record_wait_s: float = Field(
        default=5.0, ge=0.0, description="How long execute and track wait for their execution's commit"
    )
    recorder_interval_s: float = Field(
        default=0.2, gt=0.0, le=1.0, description="How often the recorder retries what could not be committed"
    )
    key_cache_s: float = Field(
        default=5.0, ge=0.0, le=300.0, description="How long a checked API key is trusted (a revoke's delay)"
    )


@dataclass
class Services:
    settings: Settings
    api: ApiSettings
    store: Store
    optimizer: PromptOptimizer
    runner: AsyncPromptOptimizer
    registry: Registry
    experiments: ExperimentService
    keys: KeyService
    key_cache: KeyCache
    commits: GroupCommit
    recorder: CapturingRecorder
    jobs: JobQueue
    providers: dict[str, Provider]
    autopilot_settings: AutopilotSettings

    def parts(self, actor: str | None) -> Parts:
        """The services acting for ``actor``, wired to this process's SDK cache (``compose``)."""
        return compose(
            self.store,
            actor=actor,
            providers=self.providers,
            default_provider=self.settings.default_provider,
            on_change=self.optimizer.cache.invalidate,
        )

    def evolution(self, actor: str) -> EvolutionService:
        return self.parts(actor).evolution

    def autopilot(self, actor: str) -> Autopilot:
        return compose_autopilot(
            self.parts(actor), settings=self.autopilot_settings, notifier=self.jobs.outbox()
        )

    def close(self) -> None:
        self.jobs.close()
        self.optimizer.close()
        self.store.dispose()


def _open(settings: Settings) -> Store:
    """Migrated (or refused, ``SchemaOutOfDateError``); a store that is down still lets the server start,
    so that health answers and readiness says why it is not ready."""
    try:
        return open_store(settings)
    except StoreUnavailableError as exc:
        logger.warning("starting without the store: %s", exc)
        return Store.from_settings(settings)


def open_services(
    settings: Settings,
    api: ApiSettings,
    *,
    providers: Mapping[str, Provider] | None = None,
    jobs: JobSettings | None = None,
) -> Services:
    store = _open(settings)
    shared = dict(providers or {})
    recorder = CapturingRecorder(store, interval_s=api.recorder_interval_s)
    optimizer = PromptOptimizer(store, settings=settings, providers=shared, recorder=recorder)
    keys = KeyService(store)
    parts = compose(
        store,
        actor=settings.actor,
        providers=shared,
        default_provider=settings.default_provider,
        on_change=optimizer.cache.invalidate,
    )
    autopilot = load_autopilot_settings()
    deps = JobDeps(
        store=store,
        providers=shared,
        default_provider=settings.default_provider,
        autopilot=autopilot,
        on_change=optimizer.cache.invalidate,
    )
    queue = open_queue(deps, jobs or load_job_settings())
    queue.start()
    return Services(
        settings=settings,
        api=api,
        store=store,
        optimizer=optimizer,
        runner=AsyncPromptOptimizer(optimizer),
        registry=parts.registry,
        experiments=parts.experiments,
        keys=keys,
        key_cache=KeyCache(keys, ttl_s=api.key_cache_s),
        commits=GroupCommit(store, on_unavailable=recorder.enqueue_all),
        recorder=recorder,
        jobs=queue,
        providers=shared,
        autopilot_settings=autopilot,
    )


async def commit_recorded(services: Services, rows: Sequence[Row], key: ApiKeyInfo) -> bool:
    """Commit the rows a request's SDK call recorded (``capture()``); False if they are not committed
    within ``record_wait_s``: then they stay queued, in the group commit or, when the store is down, in
    the SDK's recorder, and are written when the store answers. ``AuthenticationError`` if ``key`` was
    revoked (the rows are not written)."""
    if not rows:
        return False
    try:
        async with asyncio.timeout(services.api.record_wait_s):
            await services.commits.submit(Write(rows, key=key, spill=True))
    except (TimeoutError, StoreUnavailableError):
        return False
    except StoreError as exc:  # rejected by the database: nothing will write these rows
        logger.error("the execution was not recorded: %s", exc)
        return False
    return True
