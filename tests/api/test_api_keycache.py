"""The API key cache: a checked key is trusted for ``ttl_s``, then read again; failures never cached."""

from __future__ import annotations

import pytest

from promptevolve.access import AuthenticationError, KeyService
from promptevolve.api.keycache import KeyCache
from promptevolve.core.protocols import ManualClock
from promptevolve.store.engine import Store


def test_a_checked_key_is_trusted_for_ttl_then_read_again(store: Store) -> None:
    keys, clock = KeyService(store), ManualClock()
    cache = KeyCache(keys, ttl_s=5.0, clock=clock.now)
    key = keys.create("app", ["execute"]).key
    assert cache.cached(key) is None

    info = cache.authenticate(key)
    keys.revoke(info.prefix)
    clock.advance(4.9)
    assert cache.cached(key) == info  # no read: the commit of the call checks the key instead

    clock.advance(0.1)
    assert cache.cached(key) is None
    with pytest.raises(AuthenticationError, match="revoked"):
        cache.authenticate(key)


def test_a_refused_key_is_never_cached(store: Store) -> None:
    keys = KeyService(store)
    cache = KeyCache(keys, ttl_s=5.0)
    unknown = "pe_00000000_" + "a" * 43
    with pytest.raises(AuthenticationError):
        cache.authenticate(unknown)
    assert cache.cached(unknown) is None


def test_a_ttl_of_zero_turns_the_cache_off(store: Store) -> None:
    keys = KeyService(store)
    cache = KeyCache(keys, ttl_s=0.0)
    key = keys.create("app", ["execute"]).key
    cache.authenticate(key)
    assert cache.cached(key) is None


def test_invalidate_forgets_every_key(store: Store) -> None:
    keys = KeyService(store)
    cache = KeyCache(keys, ttl_s=60.0)
    key = keys.create("app", ["execute"]).key
    cache.authenticate(key)
    cache.invalidate()
    assert cache.cached(key) is None
