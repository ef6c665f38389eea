"""Sessions: what the dashboard's cookie holds instead of the API key.

Signing in posts a key once; ``SessionService.open`` answers a token ``ps_<43 characters of 256 random
bits>`` and stores only its SHA-256 with the key's id and an expiry (8 hours). A request that carries the
token acts as that key, with its scopes, for as long as all of these hold: the token is known (by hash),
not revoked, not expired, and the key itself not revoked. So a leaked cookie is no longer a key: it dies
at sign-out (``close``), at expiry, and when the key is revoked (``KeyService.revoke`` ends its
sessions in the same transaction, and the key's own ``revoked_at`` is checked on every request).

Why server-side rather than signed (``itsdangerous``) tokens: a signed token cannot be revoked before
its expiry without a deny-list, which is a table anyway, and it would need a signing secret shared by
every worker and kept across restarts, which promptevolve has nowhere to keep; the session table is one
indexed read per page, like the key check it replaces. As with keys, one SHA-256 of a 256-bit random
token is enough (nothing to brute-force), and the lookup by hash leaks nothing a guess could use.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select, update

from promptevolve.access.keys import ApiKeyInfo, AuthenticationError, key_info
from promptevolve.core.errors import ConflictError
from promptevolve.store.engine import Store
from promptevolve.store.tables import ApiKey, SessionToken, utcnow

__all__ = ["SESSION_PREFIX", "SESSION_TTL", "OpenedSession", "SessionService", "is_session_token"]

SESSION_PREFIX = "ps_"
SESSION_TTL = timedelta(hours=8)


class OpenedSession(BaseModel):
    """What ``open`` returns: the token (this once) and when it stops working."""

    model_config = ConfigDict(frozen=True)

    token: str
    expires_at: datetime
    key: ApiKeyInfo


def is_session_token(credential: str | None) -> bool:
    return bool(credential) and str(credential).startswith(SESSION_PREFIX)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class SessionService:
    """Open, check and close sessions; one transaction per method, no state of its own."""

    def __init__(self, store: Store, *, ttl: timedelta = SESSION_TTL) -> None:
        self.store = store
        self.ttl = ttl

    def open(self, key: ApiKeyInfo) -> OpenedSession:
        """A new session acting as ``key`` (already authenticated by the caller)."""
        token = SESSION_PREFIX + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
        expires = utcnow() + self.ttl
        with self.store.write() as s:
            s.add(SessionToken(token_hash=_hash(token), key_id=key.id, expires_at=expires))
        return OpenedSession(token=token, expires_at=expires, key=key)

    def authenticate(self, token: str) -> ApiKeyInfo:
        """The key a valid session acts as; ``AuthenticationError`` when the token is unknown, signed out,
        expired, or its key revoked."""
        with self.store.read() as s:
            found = s.execute(
                select(SessionToken, ApiKey)
                .join(ApiKey, ApiKey.id == SessionToken.key_id)
                .where(SessionToken.token_hash == _hash(token))
            ).first()
            if found is None:
                raise AuthenticationError("unknown session: sign in again")
            session, key = found
            if session.revoked_at is not None:
                raise AuthenticationError("this session was signed out: sign in again")
            if session.expires_at <= utcnow():
                raise AuthenticationError("this session expired: sign in again")
            if key.revoked_at is not None:
                raise AuthenticationError(f"API key pe_{key.prefix}… was revoked; sign in with another key")
            return key_info(key)

    def close(self, token: str) -> None:
        """Sign out: the token stops working at once (closing twice is harmless)."""
        with self.store.write() as s:
            s.execute(
                update(SessionToken)
                .where(SessionToken.token_hash == _hash(token), SessionToken.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )

    @staticmethod
    def require_key(credential: str) -> None:
        """Sessions are opened with a key, never with another session (which would extend a stolen
        cookie's life without end)."""
        if is_session_token(credential):
            raise ConflictError("a session cannot open another session: sign in with an API key")
