"""API keys checked once per ``ttl_s`` per key, not once per request.

``KeyService.authenticate`` reads the key's row; at a thousand requests a second that read (a session,
a connection from the pool, a query) cost more than the rest of a feedback request, and on a busy
SQLite database it queued behind the writers (22 % of a profiled ``run``, BENCHMARKS.md). A key that
authenticated is kept here, under the SHA-256 of the key (the secret itself is not kept), for
``ttl_s`` seconds:

- a revoked key (``promptevolve keys revoke``, another process: the API has no revoke operation) is
  refused by every server process within ``ttl_s`` (``PROMPTEVOLVE_API_KEY_CACHE_S``, default 5 s; 0
  turns the cache off); ``invalidate`` forgets every key at once;
- failures are never cached: an unknown or revoked key is read again each time, so a key created a
  second ago works at once.

The clock is an argument (tests pass a manual one).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from promptevolve.access import ApiKeyInfo, KeyService, hash_key

__all__ = ["KeyCache"]


class KeyCache:
    def __init__(
        self, keys: KeyService, *, ttl_s: float = 5.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.keys = keys
        self.ttl_s = ttl_s
        self._clock = clock
        self._valid: dict[str, tuple[float, ApiKeyInfo]] = {}
        self._lock = threading.Lock()

    def cached(self, key: str) -> ApiKeyInfo | None:
        """The key's record if it authenticated less than ``ttl_s`` ago (no I/O: safe on the event loop)."""
        hit = self._valid.get(hash_key(key))
        if hit is None or self._clock() >= hit[0]:
            return None
        return hit[1]

    def authenticate(self, key: str | None) -> ApiKeyInfo:
        """``KeyService.authenticate`` (reads the store), remembered for ``ttl_s`` when it succeeds."""
        info = self.keys.authenticate(key)
        if key and self.ttl_s > 0:
            with self._lock:
                if len(self._valid) > 10_000:  # keys are few; this bounds memory against churn, not use
                    self._valid.clear()
                self._valid[hash_key(key)] = (self._clock() + self.ttl_s, info)
        return info

    def invalidate(self) -> None:
        with self._lock:
            self._valid.clear()
