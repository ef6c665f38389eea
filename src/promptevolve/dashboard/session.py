"""Signing in to the dashboard: a server-side session token in an HttpOnly cookie, and CSRF tokens on every
form.

The sign-in form posts the API key once; the dashboard opens a session through the API
(``POST /auth/sessions``) and keeps only the session token (``ps_…``) in its cookie, never the key. The
API stores the token hashed with its key and an expiry (``access.sessions``): a leaked cookie dies at
sign-out (``DELETE /auth/sessions/current``), at expiry (8 hours) and when the key is revoked. The cookie
is ``HttpOnly`` (scripts cannot read it), sent only to the dashboard's own pages (``Path=/dashboard``,
``SameSite=Strict``) and only over HTTPS when the dashboard is served over HTTPS (``Secure``). A cookie
left by an older version, which held the key itself, is deleted on the next visit.

CSRF: every form carries ``csrf``. Once signed in, it is an HMAC of a fixed label keyed by the session
token, which another site can neither read nor compute, and which changes with every sign-in. Before
sign-in there is no session, so the sign-in form uses a double-submit token: a random value in a
``promptevolve_csrf`` cookie (HttpOnly, SameSite=Strict) and the same value in the form; a post whose
two copies differ is refused, so no other site can sign a browser in to an account of its choosing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

__all__ = [
    "COOKIE",
    "LEGACY_COOKIE",
    "LOGIN_CSRF_COOKIE",
    "Viewer",
    "clear_session",
    "csrf_token",
    "csrf_valid",
    "keep_login_csrf",
    "login_csrf",
    "login_csrf_valid",
    "remember_session",
    "session_of",
]

COOKIE = "promptevolve_session"
LEGACY_COOKIE = "promptevolve_key"
LOGIN_CSRF_COOKIE = "promptevolve_csrf"
_LOGIN_CSRF_MAX_AGE_S = 3600


@dataclass(frozen=True)
class Viewer:
    """Who is looking: the key's name and what it may do, and the CSRF token of their forms."""

    name: str
    prefix: str
    scopes: frozenset[str]
    csrf: str

    @property
    def is_admin(self) -> bool:
        return "admin" in self.scopes


def csrf_token(session: str) -> str:
    return hmac.new(session.encode(), b"promptevolve dashboard csrf", hashlib.sha256).hexdigest()


def csrf_valid(session: str, token: str | None) -> bool:
    return token is not None and hmac.compare_digest(csrf_token(session), token)


def session_of(request: Request) -> str | None:
    return request.cookies.get(COOKIE) or None


def _base(request: Request) -> str:
    return request.scope.get("root_path", "") or "/"


def _set(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=_base(request),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def remember_session(request: Request, response: Response, token: str, max_age: int) -> None:
    _set(request, response, COOKIE, token, max_age)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path=_base(request), httponly=True, samesite="strict")


def clear_session(request: Request, response: Response) -> None:
    response.delete_cookie(COOKIE, path=_base(request), httponly=True, samesite="strict")


def login_csrf(request: Request) -> str:
    """The sign-in form's token: the one the browser already holds, or a new one (``keep_login_csrf``
    puts it in the cookie)."""
    token = request.cookies.get(LOGIN_CSRF_COOKIE)
    return token if token and len(token) == 43 else secrets.token_urlsafe(32)


def keep_login_csrf(request: Request, response: Response, token: str) -> None:
    _set(request, response, LOGIN_CSRF_COOKIE, token, _LOGIN_CSRF_MAX_AGE_S)


def login_csrf_valid(request: Request, token: str | None) -> bool:
    held = request.cookies.get(LOGIN_CSRF_COOKIE)
    return bool(held and token) and hmac.compare_digest(str(held), str(token))
