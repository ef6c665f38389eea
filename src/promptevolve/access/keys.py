"""API keys: made once, stored hashed, checked in constant time, scoped.

A key reads ``pe_<prefix>_<secret>``: the prefix (8 hex characters) names the row and may be shown and
logged; the secret is 32 random bytes (256 bits, URL-safe base64). Only the SHA-256 of the whole key
is stored. A slow password hash (bcrypt, argon2) protects low-entropy secrets people choose; a 256-bit
random secret cannot be guessed, so one SHA-256 is enough and keeps every request's check to
microseconds. The stored hash is compared with ``hmac.compare_digest``, so the time a check takes does
not tell how much of a guess was right. The key itself is returned once, by ``create``, and never again.

Scopes, and what each lets a key do (``admin`` includes the other two)::

    read      read prompts, variants, experiments, metrics, executions, evolution runs
    execute   run prompts, record external calls, post feedback
    admin     change the registry, experiments and evolution; everything above

``KeyService.authenticate`` returns the key's record or raises ``AuthenticationError`` (unknown, malformed,
revoked); ``require`` raises ``PermissionDeniedError`` when a scope is missing. Both are children of
``PromptevolveError``, so the CLI and the API map them where they map every other error.
``last_used_at`` is written at most once a minute per key and process: a write per request would put a
write lock on every call of a SQLite database.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
import threading
import time
from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select, update

from promptevolve.core.errors import (
    ConflictError,
    NotFoundError,
    PromptevolveError,
    StoreUnavailableError,
    ValidationError,
)
from promptevolve.store.engine import Store
from promptevolve.store.tables import ApiKey, SessionToken, utcnow

logger = logging.getLogger("promptevolve.access")

__all__ = [
    "KEY_PATTERN",
    "UNREVOKED_KEYS_SQL",
    "ApiKeyInfo",
    "AuthenticationError",
    "CreatedKey",
    "KeyService",
    "PermissionDeniedError",
    "Scope",
    "generate_key",
    "hash_key",
    "key_info",
    "parse_scopes",
]

KEY_PATTERN = re.compile(r"^pe_([0-9a-f]{8})_([A-Za-z0-9_\-]{43})$")
_TOUCH_EVERY_S = 60.0


class Scope(StrEnum):
    READ = "read"
    EXECUTE = "execute"
    ADMIN = "admin"


class AuthenticationError(PromptevolveError):
    """No key, or a key that is malformed, unknown or revoked (HTTP 401)."""

    code = "unauthenticated"


class PermissionDeniedError(PromptevolveError):
    """A valid key without the scope an action needs (HTTP 403)."""

    code = "forbidden"


class ApiKeyInfo(BaseModel):
    """A key as it may be shown: never its secret or hash."""

    model_config = ConfigDict(frozen=True)

    id: int
    name: str
    prefix: str = Field(description="The public part of the key: pe_<prefix>_…")
    scopes: list[Scope]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def allows(self, scope: Scope) -> bool:
        """Whether the key may act with ``scope`` (``admin`` includes every scope)."""
        return scope in self.scopes or Scope.ADMIN in self.scopes


class CreatedKey(BaseModel):
    """What ``create`` returns: the record and, this once, the key itself."""

    info: ApiKeyInfo
    key: str


#: The ids of unrevoked keys among some, for a writer that checks keys on its own driver connection (the
#: API's group commit): ``{in_}`` is the driver's "in this list" (``IN (?, …)``, ``= ANY(%s)``).
UNREVOKED_KEYS_SQL = "SELECT id FROM api_keys WHERE revoked_at IS NULL AND id {in_}"


def parse_scopes(values: Iterable[str]) -> list[Scope]:
    """Scopes from text (``"read,execute"`` pieces), deduplicated, in canonical order."""
    names = {part.strip().lower() for value in values for part in value.split(",") if part.strip()}
    unknown = sorted(names - {s.value for s in Scope})
    if unknown:
        raise ValidationError(
            f"unknown scope {', '.join(map(repr, unknown))}: use read, execute and/or admin"
        )
    if not names:
        raise ValidationError("give at least one scope: read, execute or admin")
    return [s for s in Scope if s.value in names]


def generate_key() -> tuple[str, str]:
    """A new (prefix, key) pair; the key is ``pe_<prefix>_<43 characters of 256 random bits>``."""
    prefix = secrets.token_hex(4)
    secret = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    return prefix, f"pe_{prefix}_{secret}"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def key_info(row: ApiKey) -> ApiKeyInfo:
    """The showable record of a key row."""
    return ApiKeyInfo(
        id=row.id,
        name=row.name,
        prefix=row.prefix,
        scopes=[Scope(s) for s in row.scopes],
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


class KeyService:
    """Create, list, revoke and check API keys; one transaction per method."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._touched: dict[int, float] = {}
        self._lock = threading.Lock()

    def create(self, name: str, scopes: Iterable[str | Scope]) -> CreatedKey:
        name = name.strip()
        if not 1 <= len(name) <= 200:
            raise ValidationError("a key needs a name of 1 to 200 characters (who or what uses it)")
        chosen = parse_scopes(str(s) for s in scopes)
        with self.store.write() as s:
            prefix, key = generate_key()
            while s.scalar(select(ApiKey.id).where(ApiKey.prefix == prefix)) is not None:
                prefix, key = generate_key()  # 1 in 4 billion per existing key; cheap to rule out
            row = ApiKey(name=name, prefix=prefix, key_hash=hash_key(key), scopes=[c.value for c in chosen])
            s.add(row)
            s.flush()
            return CreatedKey(info=key_info(row), key=key)

    def list(self, *, include_revoked: bool = False) -> list[ApiKeyInfo]:
        with self.store.read() as s:
            query = select(ApiKey).order_by(ApiKey.id)
            if not include_revoked:
                query = query.where(ApiKey.revoked_at.is_(None))
            return [key_info(r) for r in s.scalars(query)]

    def count_active(self) -> int:
        with self.store.read() as s:
            return int(s.scalar(select(func.count(ApiKey.id)).where(ApiKey.revoked_at.is_(None))) or 0)

    def revoke(self, prefix_or_name: str) -> ApiKeyInfo:
        """Revoke the key with this prefix (or ``pe_<prefix>…``), or the only active key of this name."""
        ref = prefix_or_name.strip()
        match = re.match(r"^(?:pe_)?([0-9a-f]{8})(?:_.*)?$", ref)
        with self.store.write() as s:
            rows = list(s.scalars(select(ApiKey).where(ApiKey.prefix == match.group(1)))) if match else []
            if not rows:
                rows = list(s.scalars(select(ApiKey).where(ApiKey.name == ref, ApiKey.revoked_at.is_(None))))
            if not rows:
                raise NotFoundError(
                    f"no key with prefix or name {ref!r}: `promptevolve keys list` shows them"
                )
            if len(rows) > 1:
                listing = ", ".join(r.prefix for r in rows)
                raise ConflictError(f"several active keys are named {ref!r} ({listing}): revoke by prefix")
            row = rows[0]
            if row.revoked_at is None:
                row.revoked_at = utcnow()
            # Its dashboard sessions end with it (each request checks the key too; this says so in the table).
            s.execute(
                update(SessionToken)
                .where(SessionToken.key_id == row.id, SessionToken.revoked_at.is_(None))
                .values(revoked_at=row.revoked_at)
            )
            return key_info(row)

    def authenticate(self, key: str | None) -> ApiKeyInfo:
        """The record of a valid, unrevoked key; ``AuthenticationError`` otherwise."""
        if not key:
            raise AuthenticationError("an API key is required: send `Authorization: Bearer pe_…`")
        match = KEY_PATTERN.match(key)
        if match is None:
            raise AuthenticationError("malformed API key: keys look like pe_<8 hex>_<43 characters>")
        with self.store.read() as s:
            row = s.scalar(select(ApiKey).where(ApiKey.prefix == match.group(1)))
            valid = row is not None and hmac.compare_digest(row.key_hash, hash_key(key))
            if row is None or not valid:
                raise AuthenticationError(
                    "unknown API key: check it, or create one with `promptevolve keys create`"
                )
            if row.revoked_at is not None:
                raise AuthenticationError(f"API key pe_{row.prefix}… was revoked; create a new one")
            info = key_info(row)
        self._touch(info.id)
        return info

    @staticmethod
    def require(key: ApiKeyInfo, scope: Scope) -> None:
        if not key.allows(scope):
            held = ", ".join(s.value for s in key.scopes)
            raise PermissionDeniedError(
                f"this needs the {scope.value} scope; key {key.name!r} (pe_{key.prefix}…) has {held}"
            )

    def _touch(self, key_id: int) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._touched.get(key_id, -_TOUCH_EVERY_S) < _TOUCH_EVERY_S:
                return
            self._touched[key_id] = now
        try:
            with self.store.write() as s:
                row = s.get(ApiKey, key_id)
                if row is not None:
                    row.last_used_at = utcnow()
        except StoreUnavailableError as exc:
            # Bookkeeping, not the request: a store that takes no writes now (read-only, locked) must
            # not fail a call whose key was verified by reading. Tried again a minute later.
            logger.debug("could not record the use of key %s: %s", key_id, exc)
