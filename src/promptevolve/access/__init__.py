"""Access: scoped API keys for the API and the dashboard, managed by the CLI (``promptevolve keys``).

It sits at the registry's layer, below the surfaces that use it (``cli``, ``api``), and reaches the
store only through its units of work. See ``keys`` for the key format, hashing and scopes.
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
    parse_scopes,
)

__all__ = [
    "KEY_PATTERN",
    "ApiKeyInfo",
    "AuthenticationError",
    "CreatedKey",
    "KeyService",
    "PermissionDeniedError",
    "Scope",
    "generate_key",
    "hash_key",
    "parse_scopes",
]
