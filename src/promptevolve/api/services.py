"""What one API app serves with, built when the app starts (its lifespan) and closed when it stops.

Nothing is built at import: ``open_services`` opens the store, builds the SDK's ``PromptOptimizer``
(cache, recorder, registry) and the services on top of it, and ``close`` drains the recorder and
disposes of the engine. The registry and the experiment service share the optimizer's cache
invalidation, so a change made through the API is served by this process at once (other processes see
it within the cache's TTL, as for any SDK).

The autopilot's approvals run in the request (``Services.autopilot``: one ``Autopilot`` a request, so
each has its own lease holder); their webhook events go through one ``Notifier`` per process, drained
when the app stops.

The recorder of a server polls its queue every 5 ms instead of the SDK's 200 ms: ``execute`` and
``track`` answer only once their execution is committed (so feedback sent to another worker finds it),
and the interval is the floor of that wait.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from promptevolve.access import KeyService
from promptevolve.api.jobs import EvolutionJobs
from promptevolve.autopilot import Autopilot, AutopilotSettings, Notifier, load_autopilot_settings
from promptevolve.client import AsyncPromptOptimizer, PromptOptimizer
from promptevolve.core.errors import StoreUnavailableError
from promptevolve.core.protocols import Provider
from promptevolve.core.settings import Settings
from promptevolve.evolution import EvolutionReport, EvolutionService, EvolveRequest, Progress
from promptevolve.experiments import ExperimentService
from promptevolve.registry import Registry
from promptevolve.store.engine import Store
from promptevolve.store.migrate import open_store
from promptevolve.tracking import Recorder

__all__ = ["ApiSettings", "Services", "open_services", "wait_recorded"]

logger = logging.getLogger("promptevolve.api")


class ApiSettings(BaseSettings):
    """Settings of the HTTP surface (``PROMPTEVOLVE_API_*``)."""

    model_config = SettingsConfigDict(env_prefix="PROMPTEVOLVE_API_", extra="ignore")

    max_body_bytes: int = Field(default=1_048_576, ge=1024, description="Larger request bodies get 413")
    record_wait_s: float = Field(
        default=5.0, ge=0.0, description="How long execute and track wait for their execution's commit"
    )
    recorder_interval_s: float = Field(
        default=0.005, gt=0.0, le=1.0, description="How often the recorder writes queued executions"
    )
    evolution_workers: int = Field(default=1, ge=1, le=8, description="Evolution jobs run at once")


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
    jobs: EvolutionJobs
    providers: dict[str, Provider]
    autopilot_settings: AutopilotSettings
    notifier: Notifier

    def evolution(self, actor: str) -> EvolutionService:
        return EvolutionService(
            self.store,
            registry=self.registry,
            providers=self.providers,
            default_provider=self.settings.default_provider,
            actor=actor,
        )

    def autopilot(self, actor: str) -> Autopilot:
        return Autopilot(
            self.store,
            providers=self.providers,
            actor=actor,
            settings=self.autopilot_settings,
            notifier=self.notifier,
            on_change=self.optimizer.cache.invalidate,
        )

    def close(self) -> None:
        self.jobs.close()
        self.notifier.close(self.autopilot_settings.drain_s)
        self.optimizer.close()
        self.store.dispose()


def _open(settings: Settings) -> Store:
    """Migrated (or refused, ``SchemaOutOfDateError``); a store that is down still lets the server start,
    so that health answers and readiness says why it is not ready."""
    try:
        return open_store(settings)
    except StoreUnavailableError as exc:
        logger.warning("starting without the store: %s", exc)
        return Store.from_url(settings.database_url)


def open_services(
    settings: Settings, api: ApiSettings, *, providers: Mapping[str, Provider] | None = None
) -> Services:
    store = _open(settings)
    shared = dict(providers or {})
    optimizer = PromptOptimizer(
        store,
        settings=settings,
        providers=shared,
        recorder=Recorder(store, interval_s=api.recorder_interval_s),
    )
    registry = optimizer.registry
    experiments = ExperimentService(store, registry=registry, on_change=optimizer.cache.invalidate)
    autopilot = load_autopilot_settings()
    services: Services

    def run(request: EvolveRequest, actor: str, on_progress: Callable[[Progress], None]) -> EvolutionReport:
        return services.evolution(actor).evolve(request, on_progress=on_progress)

    services = Services(
        settings=settings,
        api=api,
        store=store,
        optimizer=optimizer,
        runner=AsyncPromptOptimizer(optimizer),
        registry=registry,
        experiments=experiments,
        keys=KeyService(store),
        jobs=EvolutionJobs(run, workers=api.evolution_workers),
        providers=shared,
        autopilot_settings=autopilot,
        notifier=Notifier(
            timeout_s=autopilot.notify_timeout_s,
            attempts=autopilot.notify_attempts,
            deadline_s=autopilot.notify_deadline_s,
        ),
    )
    return services


async def wait_recorded(services: Services, execution_id: str | None) -> bool:
    """Wait (up to ``record_wait_s``) until the recorder has written ``execution_id``; False if it has not.

    Interim: polls ``Recorder.is_pending`` with a growing pause (1 → 10 ms); a ``Recorder`` method that
    waits on its condition for one id would replace it.
    """
    if execution_id is None:
        return False
    recorder = services.optimizer.recorder
    deadline = time.monotonic() + services.api.record_wait_s
    pause = 0.001
    while recorder.is_pending(execution_id):
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(pause)
        pause = min(pause * 2, 0.01)
    return True
