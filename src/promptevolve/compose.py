"""One composition function: each service built once, its collaborators given, cache invalidation
wired once. The CLI, the API and the jobs build their services here and nowhere else.

The services call one another: an experiment service changes routing through the registry, an
evolution that passes its gate starts a test through the experiment service, the autopilot evolves,
tests and analyses through all three. Built by hand in each caller (about 25 places), each caller had
to remember which collaborator to share and whom to tell about a change, and one did not: an A/B test
started by evolution in the server was served the old plan for up to the cache's TTL. Here:

- one ``Registry`` holds ``on_change`` (the SDK cache's invalidation, in a process that serves);
- the ``ExperimentService`` and the ``EvolutionService`` share that registry (the constructors require
  their collaborators), and the experiment service reports its routing changes through
  ``registry.notify_changed``, so a change reaches the cache by one path whichever service made it;
- the ``Autopilot`` is given those three services (``autopilot``), not a store to build them from.

Building is cheap (constructors only, no I/O): an API request acting for its own actor composes its
own ``Parts``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from promptevolve.autopilot import Autopilot, AutopilotSettings
from promptevolve.autopilot.notify import EventSink
from promptevolve.core.protocols import Clock, Provider
from promptevolve.evolution import EvolutionService
from promptevolve.experiments import ExperimentService
from promptevolve.registry import Registry
from promptevolve.store.engine import Store

__all__ = ["Parts", "compose", "compose_autopilot"]


@dataclass(frozen=True)
class Parts:
    """The services of one actor on one store, wired to each other."""

    store: Store
    registry: Registry
    experiments: ExperimentService
    evolution: EvolutionService
    providers: Mapping[str, Provider] = field(default_factory=dict)


def compose(
    store: Store,
    *,
    actor: str | None = None,
    providers: Mapping[str, Provider] | None = None,
    default_provider: str = "local",
    on_change: Callable[[str], None] | None = None,
    clock: Clock | None = None,
) -> Parts:
    """The registry, experiment and evolution services of ``actor``; ``on_change(prompt)`` is called
    after every committed change of what a prompt serves, whichever service made it."""
    shared = dict(providers or {})
    registry = Registry(store, actor=actor, on_change=on_change)
    experiments = ExperimentService(store, registry=registry, actor=actor, clock=clock)
    evolution = EvolutionService(
        store,
        registry=registry,
        experiments=experiments,
        providers=shared,
        default_provider=default_provider,
        actor=actor,
    )
    return Parts(store, registry, experiments, evolution, shared)


def compose_autopilot(
    parts: Parts,
    *,
    settings: AutopilotSettings | None = None,
    notifier: EventSink | None = None,
    clock: Clock | None = None,
    holder: str | None = None,
) -> Autopilot:
    """An autopilot acting through ``parts`` (compose them with the autopilot's actor)."""
    return Autopilot(
        parts.store,
        registry=parts.registry,
        experiments=parts.experiments,
        evolution=parts.evolution,
        actor=parts.registry.actor,
        clock=clock,
        settings=settings,
        notifier=notifier,
        holder=holder,
    )
