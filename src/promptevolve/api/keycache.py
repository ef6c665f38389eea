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

On the event loop (``check``), a key is read at most once at a time, and never while requests wait
for it under steady traffic. Before, every request in flight when a key's ``ttl_s`` ran out missed at
once: at 16 connections, 10–17 reads every 5 s, each a thread hop and a query, 1–34 ms apiece while
the loop was busy (measured under ``bench/api_load.py``, BENCHMARKS.md). Now:

- a key trusted and in the last fifth of its ``ttl_s`` is served from memory while one read renews it
  in a worker thread (a key found revoked by that read is forgotten at once: the next request is read
  and refused);
- a key not trusted is read in a worker thread, and every request that asks for it meanwhile waits
  for that one read (its result or its error).

So a key is never trusted longer than ``ttl_s`` after it was read: what may be served is what
``cached`` would serve. ``check`` belongs to one event loop (the app's).

The clock is an argument (tests pass a manual one).
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from collections.abc import Callable

from promptevolve.access import ApiKeyInfo, AuthenticationError, KeyService, hash_key

__all__ = ["KeyCache"]

#: The share of ``ttl_s`` at the end of which a trusted key is renewed in the background.
_RENEW_SHARE = 0.2


class KeyCache:
    def __init__(
        self, keys: KeyService, *, ttl_s: float = 5.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.keys = keys
        self.ttl_s = ttl_s
        self._clock = clock
        self._valid: dict[str, tuple[float, ApiKeyInfo]] = {}
        self._lock = threading.Lock()
        self._reads: dict[str, asyncio.Future[ApiKeyInfo]] = {}  # the read in flight per key (``check``)

    def cached(self, key: str) -> ApiKeyInfo | None:
        """The key's record if it authenticated less than ``ttl_s`` ago (no I/O: safe on the event loop)."""
        hit = self._trusted(hash_key(key), self._clock())
        return hit[1] if hit is not None else None

    def _trusted(self, digest: str, now: float) -> tuple[float, ApiKeyInfo] | None:
        """(expiry, record) of a key still trusted at ``now``: the one rule ``cached`` and ``check`` share."""
        hit = self._valid.get(digest)
        return hit if hit is not None and now < hit[0] else None

    def authenticate(self, key: str | None) -> ApiKeyInfo:
        """``KeyService.authenticate`` (reads the store), remembered for ``ttl_s`` when it succeeds."""
        info = self.keys.authenticate(key)
        if key and self.ttl_s > 0:
            with self._lock:
                if len(self._valid) > 10_000:  # keys are few; this bounds memory against churn, not use
                    self._valid.clear()
                self._valid[hash_key(key)] = (self._clock() + self.ttl_s, info)
        return info

    async def check(self, key: str | None) -> ApiKeyInfo:
        """The key's record, read in a worker thread only when it is not trusted, once however many
        requests ask (see the module docstring); ``AuthenticationError`` as ``authenticate``."""
        digest = hash_key(key) if key else ""
        now = self._clock()
        hit = self._trusted(digest, now)
        if hit is not None:
            if now >= hit[0] - self.ttl_s * _RENEW_SHARE:
                self._read(key, digest)  # renewed in the background: this request does not wait
            return hit[1]
        # shield: a request that stops waiting (a client gone) does not cancel the others' read
        return await asyncio.shield(self._read(key, digest))

    def _read(self, key: str | None, digest: str) -> asyncio.Future[ApiKeyInfo]:
        pending = self._reads.get(digest)
        if pending is None:
            pending = asyncio.ensure_future(asyncio.to_thread(self.authenticate, key))
            self._reads[digest] = pending
            pending.add_done_callback(functools.partial(self._read_done, digest))
        return pending

    def _read_done(self, digest: str, read: asyncio.Future[ApiKeyInfo]) -> None:
        self._reads.pop(digest, None)
        # exception() also marks a renewal's failure as seen (nobody awaits a renewal)
        if not read.cancelled() and isinstance(read.exception(), AuthenticationError):
            with self._lock:
                self._valid.pop(digest, None)  # revoked since it was read: stop trusting it now

    def invalidate(self) -> None:
        with self._lock:
            self._valid.clear()
