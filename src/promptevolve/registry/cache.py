"""A read-through cache of serving plans: TTL, stale-while-revalidate, last good value kept forever.

- Fresh (younger than ``ttl_s``): served from memory, no I/O.
- Expired: the stale value is served at once and the key is queued for the process's one refresher
  thread (``registry.refresher``), which loads every key queued since its last round in one batch
  (``batch_loader``: one set of queries for many prompts). A key already queued is not queued again, and
  no call ever starts a thread: after a pause, traffic over 10,000 expired prompts costs a few batches.
- Invalidated (``invalidate(name)``, called when this process changes the prompt's state): the next read
  loads synchronously, so a process sees its own activations at once.
- Changed by another process: on PostgreSQL the refresher also listens for plan-change notices
  (``store.notices``, sent in the transaction of the change) and renews an announced key at once,
  whatever its age; when the listener is down (or on SQLite) other processes' changes arrive within
  ``ttl_s``. A listener that (re)connects renews every key, since notices may have been missed.
- The store failing never evicts: the last good value keeps serving and the failure is counted; a failed
  refresh is retried after ``retry_s``. Only a key never loaded has nothing to serve, and then the loader's
  error reaches the caller (the SDK answers it with the caller's fallback prompt).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from promptevolve.core.protocols import Clock, SystemClock
from promptevolve.registry.refresher import Refresher, shared_refresher

__all__ = ["CacheRead", "CacheStats", "Listener", "StaleWhileRevalidateCache"]

T = TypeVar("T")


class Listener(Protocol):
    """Change notices for cache keys (``store.notices.PlanListener``)."""

    def fileno(self) -> int: ...

    def poll(self) -> list[str]: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class CacheRead(Generic[T]):
    value: T
    stale: bool


@dataclass
class CacheStats:
    hits: int = 0
    loads: int = 0
    stale_served: int = 0
    refreshes: int = 0
    refresh_batches: int = 0
    failures: int = 0
    notices: int = 0
    listening: bool = False
    last_error: str | None = None


@dataclass
class _Entry(Generic[T]):
    value: T
    loaded_at: float
    invalid: bool = False
    refreshing: bool = False
    retry_at: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)
    fresh: CacheRead[T] | None = None


class StaleWhileRevalidateCache(Generic[T]):
    """``loader`` loads one key (first reads, invalidated reads); ``batch_loader`` many (background
    refreshes; each result a value or the exception for that key). ``listener`` opens a source of
    change notices (None: the TTL alone). ``background=False`` refreshes inline, for tests."""

    def __init__(
        self,
        loader: Callable[[str], T],
        *,
        batch_loader: Callable[[Sequence[str]], Mapping[str, T | Exception]] | None = None,
        listener: Callable[[], Listener] | None = None,
        ttl_s: float = 30.0,
        retry_s: float = 5.0,
        clock: Clock | None = None,
        background: bool = True,
        refresher: Refresher | None = None,
    ) -> None:
        self._loader = loader
        self._batch_loader = batch_loader
        self._ttl = ttl_s
        self._retry = retry_s
        self._clock = clock or SystemClock()
        self._background = background
        self._entries: dict[str, _Entry[T]] = {}
        self._key_locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        self._queued: set[str] = set()
        self._listen = listener
        self._listener: Listener | None = None
        self._listen_retry_at = 0.0
        self._closed = False
        self.stats = CacheStats()
        self._refresher = (refresher or shared_refresher()) if background else None
        if self._refresher is not None and listener is not None:
            self._refresher.register(self)  # listen from the start, not only once something expires

    def get(self, key: str) -> CacheRead[T]:
        entry = self._entries.get(key)
        if entry is None:
            return CacheRead(self._load_first(key), stale=False)
        now = self._clock.now()
        if entry.invalid:
            return self._reload_now(key, entry, now)
        if now - entry.loaded_at < self._ttl:
            self.stats.hits += 1
            fresh = entry.fresh  # one read object per loaded value, not one per call (hot path)
            if fresh is None or fresh.value is not entry.value:
                fresh = entry.fresh = CacheRead(entry.value, stale=False)
            return fresh
        self._maybe_refresh(key, entry, now)
        self.stats.stale_served += 1
        return CacheRead(entry.value, stale=True)

    def preload(self, keys: Sequence[str]) -> int:
        """Load many keys now, in batches (a server warming up, a benchmark); returns how many loaded.
        Keys that fail to load are left out, to load on first read as usual."""
        loaded = 0
        for i in range(0, len(keys), 1_000):
            chunk = keys[i : i + 1_000]
            results = self._load_many(chunk)
            now = self._clock.now()
            for key in chunk:
                value = results.get(key)
                if value is not None and not isinstance(value, Exception):
                    self._entries[key] = _Entry(value, now)
                    loaded += 1
        return loaded

    def invalidate(self, key: str | None = None) -> None:
        """Make the next read of ``key`` (or of every key) load from the store; values stay as last good."""
        for k, entry in list(self._entries.items()):
            if key is None or k == key:
                entry.invalid = True

    def peek(self, key: str) -> T | None:
        entry = self._entries.get(key)
        return entry.value if entry else None

    def close(self) -> None:
        """Stop listening for notices and refreshing in the background (reads still work)."""
        with self._lock:
            self._closed = True
            listener, self._listener = self._listener, None
        self.stats.listening = False
        if listener is not None:
            listener.close()

    # --- the refresher's side (registry.refresher calls these on its thread) -------------------------

    def wait_fd(self) -> int | None:
        listener = self._listener
        return listener.fileno() if listener is not None else None

    def service(self) -> None:
        """Take in change notices, then renew every queued key in one batch."""
        if self._closed:
            return
        announced = self._poll_listener()
        with self._lock:
            keys = sorted(self._queued | {k for k in announced if k in self._entries})
            self._queued.clear()
        if keys:
            self._refresh(keys)

    # --- internals ---------------------------------------------------------------------------------

    def _poll_listener(self) -> list[str]:
        if self._listen is None:
            return []
        now = self._clock.now()
        if self._listener is None:
            return self._connect_listener(now)
        try:
            names = self._listener.poll()
        except Exception as exc:  # a lost listener means: back to the TTL until it returns
            self._drop_listener(now, exc)
            return []
        self.stats.notices += len(names)
        return names

    def _connect_listener(self, now: float) -> list[str]:
        if now < self._listen_retry_at:
            return []
        try:
            listener = self._listen()  # type: ignore[misc]
        except Exception as exc:  # no listener: the TTL still renews every key
            self._listen_retry_at = now + self._retry
            self.stats.last_error = f"{type(exc).__name__}: {exc}"
            return []
        with self._lock:
            if self._closed:
                listener.close()
                return []
            self._listener = listener
        self.stats.listening = True
        # Notices sent while nobody listened are lost: renew everything once. On the first connect too:
        # a key loaded before LISTEN took effect (the refresher connects a moment after the cache is
        # made) may have missed a change, and with a long TTL would keep serving it.
        return list(self._entries)

    def _drop_listener(self, now: float, exc: Exception) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
        self.stats.listening = False
        self.stats.last_error = f"{type(exc).__name__}: {exc}"
        self._listen_retry_at = now + self._retry
        if listener is not None:
            with contextlib.suppress(Exception):  # it is broken already
                listener.close()

    def _key_lock(self, key: str) -> threading.Lock:
        with self._lock:
            return self._key_locks.setdefault(key, threading.Lock())

    def _load_first(self, key: str) -> T:
        with self._key_lock(key):  # one load per key, however many callers arrive at once
            entry = self._entries.get(key)
            if entry is not None:
                return entry.value
            value = self._load(key)
            self._entries[key] = _Entry(value, self._clock.now())
            return value

    def _reload_now(self, key: str, entry: _Entry[T], now: float) -> CacheRead[T]:
        with entry.lock:
            if not entry.invalid:
                return CacheRead(entry.value, stale=False)
            try:
                entry.value = self._load(key)
            except Exception:
                entry.invalid, entry.retry_at = False, now + self._retry
                entry.loaded_at = now - self._ttl  # expired: background refreshes will keep trying
                self.stats.stale_served += 1
                return CacheRead(entry.value, stale=True)
            entry.loaded_at, entry.invalid = self._clock.now(), False
            return CacheRead(entry.value, stale=False)

    def _maybe_refresh(self, key: str, entry: _Entry[T], now: float) -> None:
        with entry.lock:
            if entry.refreshing or now < entry.retry_at:
                return
            entry.refreshing = True
        if self._refresher is None:
            self._refresh([key])
            return
        with self._lock:
            self._queued.add(key)
        self._refresher.register(self)
        self._refresher.wake()

    def _refresh(self, keys: Sequence[str]) -> None:
        self.stats.refreshes += len(keys)
        self.stats.refresh_batches += 1
        try:
            results = self._load_many(keys)
        except Exception:
            results = {}
        now = self._clock.now()
        for key in keys:
            entry = self._entries.get(key)
            if entry is None:
                continue
            result = results.get(key)
            with entry.lock:
                if result is None or isinstance(result, Exception):
                    entry.refreshing, entry.retry_at = False, now + self._retry
                else:
                    entry.value, entry.loaded_at, entry.refreshing = result, now, False

    def _load_many(self, keys: Sequence[str]) -> Mapping[str, T | Exception]:
        if self._batch_loader is None:
            out: dict[str, T | Exception] = {}
            for key in keys:
                try:
                    out[key] = self._load(key)
                except Exception as exc:  # counted by _load, kept per key
                    out[key] = exc
            return out
        self.stats.loads += 1
        try:
            results = self._batch_loader(keys)
        except Exception as exc:
            self._count_failure(exc)
            raise
        for value in results.values():
            if isinstance(value, Exception):
                self._count_failure(value)
        return results

    def _load(self, key: str) -> T:
        self.stats.loads += 1
        try:
            return self._loader(key)
        except Exception as exc:
            self._count_failure(exc)
            raise

    def _count_failure(self, exc: Exception) -> None:
        self.stats.failures += 1
        self.stats.last_error = f"{type(exc).__name__}: {exc}"
