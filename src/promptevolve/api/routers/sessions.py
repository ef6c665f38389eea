"""Sessions for the dashboard: open one with an API key, close the one a request is made with.

The dashboard keeps the session token in its cookie instead of the key (``access.sessions`` says why
and how a session ends). Both operations are documented like any other, so the API's contract covers
them; any key may open a session, with its own scopes and no more.
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from promptevolve.access import Scope, SessionService, is_session_token
from promptevolve.api.deps import AnyKey, Credential, ServicesDep
from promptevolve.api.errors import problem_responses
from promptevolve.api.schemas import SessionPublic, WhoAmIPublic
from promptevolve.core.errors import ConflictError

__all__ = ["router"]

router = APIRouter(prefix="/auth/sessions", tags=["auth"])


@router.post(
    "",
    status_code=201,
    summary="Open a session acting as this key, for 8 hours or until closed (the dashboard's sign-in)",
    responses=problem_responses(401, 409),
)
def open_session(services: ServicesDep, key: AnyKey, credential: Credential) -> SessionPublic:
    sessions = SessionService(services.store)
    sessions.require_key(credential or "")
    opened = sessions.open(key)
    who = WhoAmIPublic(name=key.name, prefix=key.prefix, scopes=[s for s in Scope if key.allows(s)])
    return SessionPublic(token=opened.token, expires_at=opened.expires_at, key=who)


@router.delete(
    "/current",
    status_code=204,
    summary="Close the session this request is made with (the dashboard's sign-out)",
    responses=problem_responses(401, 409),
)
def close_session(services: ServicesDep, key: AnyKey, credential: Credential) -> Response:
    if not is_session_token(credential):
        raise ConflictError(
            f"this request is made with API key pe_{key.prefix}…, not a session: "
            "revoke a key with `promptevolve keys revoke`"
        )
    SessionService(services.store).close(str(credential))
    return Response(status_code=204)
