"""The API key cache: a checked key is trusted for ``ttl_s``, then read again; failures never cached;
on the event loop, one read per key at a time, renewed before requests would wait for it."""

from __future__ import annotations

import asyncio
import threading

import pytest

from promptevolve.access import ApiKeyInfo, AuthenticationError, KeyService
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


class GatedKeys(KeyService):
    """A ``KeyService`` that counts its reads and holds each until ``gate`` is open."""

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.reads = 0
        self.gate = threading.Event()
        self.gate.set()

    def authenticate(self, key: str | None) -> ApiKeyInfo:
        self.reads += 1
        self.gate.wait()
        return super().authenticate(key)


def test_requests_waiting_for_a_key_share_one_read(store: Store) -> None:
    keys = GatedKeys(store)
    cache = KeyCache(keys, ttl_s=5.0, clock=ManualClock().now)
    key = keys.create("app", ["execute"]).key

    async def sixteen() -> list[ApiKeyInfo]:
        keys.gate.clear()  # every request arrives while the first read is still running
        checks = [asyncio.ensure_future(cache.check(key)) for _ in range(16)]
        await asyncio.sleep(0)
        keys.gate.set()
        return await asyncio.gather(*checks)

    infos = asyncio.run(sixteen())
    assert keys.reads == 1
    assert {info.name for info in infos} == {"app"}


def test_a_refused_key_is_refused_to_every_request_waiting_for_its_read(store: Store) -> None:
    keys = GatedKeys(store)
    cache = KeyCache(keys, ttl_s=5.0)
    key = keys.create("app", ["execute"]).key
    keys.revoke("app")

    async def four() -> list[ApiKeyInfo | BaseException]:
        keys.gate.clear()
        checks = [asyncio.ensure_future(cache.check(key)) for _ in range(4)]
        await asyncio.sleep(0)
        keys.gate.set()
        return await asyncio.gather(*checks, return_exceptions=True)

    outcomes = asyncio.run(four())
    assert keys.reads == 1
    assert all(isinstance(o, AuthenticationError) and "revoked" in str(o) for o in outcomes)
    assert cache.cached(key) is None


def test_a_key_near_the_end_of_its_ttl_is_renewed_while_requests_go_on(store: Store) -> None:
    keys, clock = GatedKeys(store), ManualClock()
    cache = KeyCache(keys, ttl_s=5.0, clock=clock.now)
    key = keys.create("app", ["execute"]).key
    info = cache.authenticate(key)

    async def steady_traffic() -> None:
        clock.advance(3.9)  # not yet the last fifth: no read
        assert await cache.check(key) == info
        assert keys.reads == 1
        clock.advance(0.2)
        keys.gate.clear()
        try:
            # The read that renews the key is held: requests are answered from memory all the same
            # (the timeout turns a request that waited for it into a failure instead of a hang).
            async with asyncio.timeout(30):
                assert await cache.check(key) == info
                assert await cache.check(key) == info
        finally:
            keys.gate.set()
        clock.advance(1.0)  # past the first read's ttl: trusted from the renewal (or waits for it)
        assert (await cache.check(key)).id == info.id  # the renewal's record (its last_used_at moved)
        assert keys.reads == 2  # one renewal, however many requests saw the key near its end

    asyncio.run(steady_traffic())


def test_a_renewal_that_finds_the_key_revoked_stops_trusting_it_at_once(store: Store) -> None:
    keys, clock = GatedKeys(store), ManualClock()
    cache = KeyCache(keys, ttl_s=5.0, clock=clock.now)
    key = keys.create("app", ["execute"]).key
    info = cache.authenticate(key)
    keys.revoke(info.prefix)

    async def renewal_refused() -> None:
        clock.advance(4.5)
        assert await cache.check(key) == info  # still inside its ttl: served, and renewed
        for _ in range(1000):  # the renewal runs in a worker thread: let it finish
            if cache.cached(key) is None:
                break
            await asyncio.sleep(0.01)
        assert cache.cached(key) is None  # 0.5 s of ttl left, but the renewal saw the revocation
        with pytest.raises(AuthenticationError, match="revoked"):
            await cache.check(key)

    asyncio.run(renewal_refused())
