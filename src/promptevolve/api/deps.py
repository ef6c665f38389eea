"""The API's dependencies, as ``Annotated`` types: the services, the caller's key and scope, pages.

Authentication happens here and only here: ``Authorization: Bearer pe_…`` is checked by
``access.KeyService``, and a dashboard session's ``Bearer ps_…`` by ``access.SessionService`` (it acts as
the key that opened it); a missing or bad key raises ``AuthenticationError`` (401) and a key without the
scope an operation needs ``PermissionDeniedError`` (403), both mapped by ``errors``. Routes declare what
they need by the type of one parameter: ``ReadKey``, ``ExecuteKey``, ``CommitKey`` or ``AdminKey``.

``CommitKey`` (``run``, ``POST /executions``, feedback) is an ``execute`` API key taken from
``api.keycache`` when it was read in the last seconds: those calls commit through the group commit,
whose transaction checks again that the key is not revoked (``Write.key``), so a revoked key still stops
working at once and the busiest calls skip a read and a thread. Session tokens are read every time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, TypeVar

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from promptevolve.access import ApiKeyInfo, KeyService, Scope, SessionService, is_session_token
from promptevolve.api.bodies import strict_body
from promptevolve.api.schemas import Page
from promptevolve.api.services import Services

__all__ = [
    "MAX_PAGE",
    "AdminKey",
    "AnyKey",
    "CommitKey",
    "Credential",
    "ExecuteKey",
    "Pagination",
    "PaginationDep",
    "ReadKey",
    "ServicesDep",
    "actor",
]

T = TypeVar("T")

MAX_PAGE = 500

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key made by `promptevolve keys create`, sent as `Authorization: Bearer pe_…` "
    "(or a session token `ps_…` from `POST /auth/sessions`, which acts as the key that opened it)",
)


# Dependencies that do no I/O are ``async``: FastAPI runs a plain ``def`` dependency in the thread pool,
# a hop that costs more than the function itself.


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def bearer(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str | None:
    """The credential of ``Authorization: Bearer …``: an API key, or a dashboard session token."""
    return credentials.credentials if credentials else None


Credential = Annotated[str | None, Depends(bearer)]


def authenticated(services: ServicesDep, credential: Credential) -> ApiKeyInfo:
    if credential is not None and is_session_token(credential):
        return SessionService(services.store).authenticate(credential)
    return services.keys.authenticate(credential)


AnyKey = Annotated[ApiKeyInfo, Depends(authenticated)]


def _requiring(scope: Scope) -> Callable[[ApiKeyInfo, Request], Awaitable[ApiKeyInfo]]:
    async def check(key: AnyKey, request: Request) -> ApiKeyInfo:
        KeyService.require(key, scope)
        # After the key and its scope, as FastAPI's own body checks come after them: 401, 403, then 422.
        await strict_body(request)
        return key

    check.__name__ = f"require_{scope.value}"
    return check


async def require_execute_at_commit(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> ApiKeyInfo:
    # One flat dependency (not services → credential → key → scope): FastAPI's cost grows with each
    # level, and these are the calls made a thousand times a second.
    services: Services = request.app.state.services
    credential = credentials.credentials if credentials else None
    if credential is not None and is_session_token(credential):
        key = await run_in_threadpool(SessionService(services.store).authenticate, credential)
    else:
        key = await services.key_cache.check(credential)  # read once a key, not once a request
    KeyService.require(key, Scope.EXECUTE)
    await strict_body(request)
    return key


ReadKey = Annotated[ApiKeyInfo, Depends(_requiring(Scope.READ))]
ExecuteKey = Annotated[ApiKeyInfo, Depends(_requiring(Scope.EXECUTE))]
AdminKey = Annotated[ApiKeyInfo, Depends(_requiring(Scope.ADMIN))]
CommitKey = Annotated[ApiKeyInfo, Depends(require_execute_at_commit)]
"""An ``execute`` key for a call whose group commit checks it again (pass it as ``Write.key``)."""


def actor(key: ApiKeyInfo) -> str:
    """Who the audit log and decision log record for a change made with ``key``."""
    return f"key:{key.name}"


@dataclass(frozen=True)
class Pagination:
    limit: int
    offset: int
    request: Request

    def page(self, items: Sequence[T], *, total: int | None = None, more: bool | None = None) -> Page[T]:
        """A page of ``items``: the whole list (sliced here), or one page already sliced by the service
        (give ``total``, or ``more`` when only whether a next page exists is known)."""
        if total is None and more is None:
            total, items = len(items), list(items[self.offset : self.offset + self.limit])
        has_next = more if more is not None else self.offset + len(items) < (total or 0)
        following = (
            str(self.request.url.include_query_params(limit=self.limit, offset=self.offset + self.limit))
            if has_next
            else None
        )
        return Page[T](items=list(items), total=total, limit=self.limit, offset=self.offset, next=following)


async def pagination(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Items per page")] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000, description="Items to skip")] = 0,
) -> Pagination:
    return Pagination(limit, offset, request)


PaginationDep = Annotated[Pagination, Depends(pagination)]
