"""A read-through cache of serving plans: TTL, stale-while-revalidate, last good value kept forever.

- Fresh (younger than ``ttl_s``): served from memory, no I/O.
- Expired: the stale value is served at once and *one* background refresh per key is started (a second
  caller during the refresh does not start another), so the hot path never waits for the store.
- Invalidated (``invalidate(name)``, called when this process changes the prompt's state): the next read
  loads synchronously, so a process sees its own activations at once; other processes see them within
  ``ttl_s``.
- The store failing never evicts: the last good value keeps serving and the failure is counted; a failed
  refresh is retried after ``retry_s``. Only a key never loaded has nothing to serve, and then the loader's
  error reaches the caller (the SDK answers it with the caller's fallback prompt).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from promptevolve.core.protocols import Clock, SystemClock

__all__ = ["CacheRead", "CacheStats", "StaleWhileRevalidateCache"]

T = TypeVar("T")


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
    failures: int = 0
    last_error: str | None = None


@dataclass
class _Entry(Generic[T]):
    value: T
    loaded_at: float
    invalid: bool = False
    refreshing: bool = False
    retry_at: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


class StaleWhileRevalidateCache(Generic[T]):
    def __init__(
        self,
        loader: Callable[[str], T],
        *,
        ttl_s: float = 30.0,
        retry_s: float = 5.0,
        clock: Clock | None = None,
        background: bool = True,
    ) -> None:
        self._loader = loader
        self._ttl = ttl_s
        self._retry = retry_s
        self._clock = clock or SystemClock()
        self._background = background
        self._entries: dict[str, _Entry[T]] = {}
        self._key_locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        self.stats = CacheStats()

    def get(self, key: str) -> CacheRead[T]:
        entry = self._entries.get(key)
        if entry is None:
            return CacheRead(self._load_first(key), stale=False)
        now = self._clock.now()
        if entry.invalid:
            return self._reload_now(key, entry, now)
        if now - entry.loaded_at < self._ttl:
            self.stats.hits += 1
            return CacheRead(entry.value, stale=False)
        self._maybe_refresh(key, entry, now)
        self.stats.stale_served += 1
        return CacheRead(entry.value, stale=True)

    def invalidate(self, key: str | None = None) -> None:
        """Make the next read of ``key`` (or of every key) load from the store; values stay as last good."""
        for k, entry in list(self._entries.items()):
            if key is None or k == key:
                entry.invalid = True

    def peek(self, key: str) -> T | None:
        entry = self._entries.get(key)
        return entry.value if entry else None

    # --- internals ---------------------------------------------------------------------------------

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
        if self._background:
            threading.Thread(
                target=self._refresh, args=(key, entry), daemon=True, name=f"promptevolve-refresh-{key}"
            ).start()
        else:
            self._refresh(key, entry)

    def _refresh(self, key: str, entry: _Entry[T]) -> None:
        self.stats.refreshes += 1
        try:
            value = self._load(key)
        except Exception:
            with entry.lock:
                entry.refreshing, entry.retry_at = False, self._clock.now() + self._retry
            return
        with entry.lock:
            entry.value, entry.loaded_at, entry.refreshing = value, self._clock.now(), False

    def _load(self, key: str) -> T:
        self.stats.loads += 1
        try:
            return self._loader(key)
        except Exception as exc:
            self.stats.failures += 1
            self.stats.last_error = f"{type(exc).__name__}: {exc}"
            raise
