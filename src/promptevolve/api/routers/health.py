"""Liveness, readiness and the caller's identity.

``/health`` and ``/ready`` need no key (load balancers and orchestrators probe them) and say nothing
about the data; ``/ready`` answers 503 with the reason while the database is unreachable or its schema
is not the one this version needs.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from fastapi import APIRouter

from promptevolve.access import Scope
from promptevolve.api.deps import AnyKey, ServicesDep
from promptevolve.api.errors import problem_responses
from promptevolve.api.schemas import HealthPublic, ReadinessPublic, WhoAmIPublic
from promptevolve.core.errors import SchemaOutOfDateError
from promptevolve.store.migrate import schema_status

__all__ = ["package_version", "router"]

router = APIRouter(tags=["health"])


def package_version() -> str:
    try:
        return version("promptevolve")
    except PackageNotFoundError:
        return "unknown"


@router.get("/health", summary="Liveness: the process answers")
def health() -> HealthPublic:
    return HealthPublic(version=package_version())


@router.get(
    "/ready", summary="Readiness: database reachable, schema current", responses=problem_responses(503)
)
def ready(services: ServicesDep) -> ReadinessPublic:
    services.store.ping()
    current, head = schema_status(services.store)
    if current != head:
        raise SchemaOutOfDateError(
            f"the database is at schema revision {current or 'none'}, this version needs {head}: "
            "run `promptevolve db upgrade`"
        )
    return ReadinessPublic(schema_revision=head)


@router.get(
    "/auth/whoami",
    summary="The key making this request: name, prefix, scopes",
    responses=problem_responses(401, 503),
    tags=["auth"],
)
def whoami(key: AnyKey) -> WhoAmIPublic:
    return WhoAmIPublic(name=key.name, prefix=key.prefix, scopes=[s for s in Scope if key.allows(s)])
