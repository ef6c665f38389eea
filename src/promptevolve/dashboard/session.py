"""Signing in to the dashboard: the API key in an HttpOnly cookie, and a CSRF token derived from it.

The login form posts the key once; the dashboard checks it against the API (``/auth/whoami``) and keeps
it in a cookie that scripts cannot read (``HttpOnly``), that the browser sends only to the dashboard's
own pages (``Path=/dashboard``, ``SameSite=Strict``) and only over HTTPS when the dashboard is served
over HTTPS (``Secure``). The API itself never accepts cookies, only ``Authorization`` headers, so a
page on another site cannot make a browser call the API with the cookie.

Every form that changes something carries ``csrf``, an HMAC of a fixed label keyed by the session's API
key: it cannot be computed without the key, needs no server-side state, and changes when the key does.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

__all__ = ["COOKIE", "Viewer", "clear_key", "csrf_token", "csrf_valid", "key_of", "remember_key"]

COOKIE = "promptevolve_key"
_MAX_AGE_S = 8 * 3600


@dataclass(frozen=True)
class Viewer:
    """Who is looking: the key's name and what it may do."""

    name: str
    prefix: str
    scopes: frozenset[str]
    csrf: str

    @property
    def is_admin(self) -> bool:
        return "admin" in self.scopes


def csrf_token(key: str) -> str:
    return hmac.new(key.encode(), b"promptevolve dashboard csrf", hashlib.sha256).hexdigest()


def csrf_valid(key: str, token: str | None) -> bool:
    return token is not None and hmac.compare_digest(csrf_token(key), token)


def key_of(request: Request) -> str | None:
    return request.cookies.get(COOKIE) or None


def _base(request: Request) -> str:
    return request.scope.get("root_path", "") or "/"


def remember_key(request: Request, response: Response, key: str) -> None:
    response.set_cookie(
        COOKIE,
        key,
        max_age=_MAX_AGE_S,
        path=_base(request),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def clear_key(request: Request, response: Response) -> None:
    response.delete_cookie(COOKIE, path=_base(request), httponly=True, samesite="strict")
