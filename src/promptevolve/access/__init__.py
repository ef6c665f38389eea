"""Access: scoped API keys for the API and the dashboard, managed by the CLI (``promptevolve keys``).

It sits at the registry's layer, below the surfaces that use it (``cli``, ``api``), and reaches the
store only through its units of work. See ``keys`` for the key format, hashing and scopes, and
``sessions`` for the dashboard's sign-in sessions.
"""

from promptevolve.access.keys import (
    KEY_PATTERN,
    ApiKeyInfo,
    AuthenticationError,
    CreatedKey,
    KeyService,
    PermissionDeniedError,
    Scope,
    generate_key,
    hash_key,
    key_info,
    parse_scopes,
)
from promptevolve.access.sessions import (
    SESSION_PREFIX,
    SESSION_TTL,
    OpenedSession,
    SessionService,
    is_session_token,
)

__all__ = [
    "KEY_PATTERN",
    "SESSION_PREFIX",
    "SESSION_TTL",
    "ApiKeyInfo",
    "AuthenticationError",
    "CreatedKey",
    "KeyService",
    "OpenedSession",
    "PermissionDeniedError",
    "Scope",
    "SessionService",
    "generate_key",
    "hash_key",
    "is_session_token",
    "key_info",
    "parse_scopes",
]
