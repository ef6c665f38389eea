"""Sticky assignment of units (users, leads, sessions) to arms through 10,000 hash buckets.

A unit's bucket is ``blake2b(seed ":" unit) mod 10,000``: the same in every process, on every machine,
after every restart, and independent between experiments (each has its own seed). No unit id → a random
bucket from the caller's generator.

Buckets are mapped to arms by **weighted rendezvous hashing** (highest random weight): bucket ``b`` goes
to the arm maximising ``share / -ln(u(seed, arm, b))`` with ``u`` uniform in (0, 1). This is an
exponential race, so each bucket lands on an arm with probability exactly ``share / Σ shares``; and
because each arm's score for a bucket depends only on that arm, changing one arm's share moves buckets
only to or from *that* arm: no unit ever swaps between two arms whose shares did not change. The simpler
cumulative layout (arm 1 takes buckets 0–4,999, arm 2 the rest, …) lacks that property: growing arm 1
would shift every later arm's range and reshuffle units between arms nobody touched.

A call scores only its own bucket: one hash for the bucket and one per arm, with no table, so routing
costs the same for the first prompt as for the ten-thousandth (a ``Router`` keeps the hash state of each
constant prefix; a cache of 16,384 routers saves rebuilding them, and a miss costs microseconds). A
router that has served 1,000 calls also remembers each bucket's arm once raced (a 10 KB ``bytearray``,
for at most 2,048 routers a process: 20 MB), so a hot prompt's calls hash only the unit.
Until 2026-12 each (seed, arms) built a 10,000-entry table, kept in a 256-entry LRU cache: past 256 prompts
that split traffic, each miss cost ~50 ms. The per-bucket race gives every unit the arm that table gave
it, property-tested against it in ``tests/routing/test_buckets.py``.
"""

from __future__ import annotations

import hashlib
import math
import random
import threading
from collections.abc import Sequence
from functools import lru_cache

from promptevolve.core.errors import ValidationError

__all__ = ["BUCKETS", "Arm", "Router", "arm_for_bucket", "assign", "bucket_of", "bucket_table", "router"]

BUCKETS = 10_000

#: (arm key, share in basis points)
Arm = tuple[str, int]


def bucket_of(seed: str, unit_id: str) -> int:
    """The unit's bucket in ``[0, 10,000)`` for this seed; stable everywhere and forever."""
    # surrogatepass: identical to UTF-8 for every valid id, and a broken one (a lone surrogate) still routes.
    digest = hashlib.blake2b(f"{seed}:{unit_id}".encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


def _live(arms: Sequence[Arm]) -> tuple[Arm, ...]:
    live = tuple((key, share) for key, share in arms if share > 0)
    if not live:
        raise ValidationError("at least one arm needs a share above 0")
    if len({key for key, _ in arms}) != len(arms):
        raise ValidationError(f"arm keys must be unique, got {[key for key, _ in arms]}")
    return live


#: Calls a router serves before it remembers its buckets' arms, and how many routers may (10 KB each).
MEMO_AFTER = 1_000
MEMO_MAX = 2_048
_memos = 0
_memo_lock = threading.Lock()


def _new_memo() -> bytearray | None:
    """A bucket → arm memo (arm index + 1, 0: not raced yet), or None once ``MEMO_MAX`` exist."""
    global _memos
    with _memo_lock:
        if _memos >= MEMO_MAX:
            return None
        _memos += 1
    return bytearray(BUCKETS)


class Router:
    """The assignment of one (seed, arms), with the hash state of each constant prefix computed once.

    ``blake2b(prefix + suffix)`` equals a copy of the state after ``prefix`` updated with ``suffix``, so
    the bytes hashed, and every assignment, are those of the definitions above (``bucket_of``, and ``u`` =
    ``blake2b(seed "|" arm "|" bucket)``); only the work per call shrinks (a state copy instead of a new
    hasher: about a third of the time). After ``MEMO_AFTER`` calls the router keeps the arm of every
    bucket it has raced (the race is a pure function of the bucket), so a hot router hashes the unit only.
    """

    __slots__ = ("_arms", "_calls", "_keys", "_memo", "_unit")

    def __init__(self, seed: str, arms: Sequence[Arm]) -> None:
        live = _live(arms)
        self._unit = hashlib.blake2b(f"{seed}:".encode(), digest_size=8)
        self._arms = tuple(
            (key, float(share), hashlib.blake2b(f"{seed}|{key}|".encode(), digest_size=8))
            for key, share in live
        )
        self._keys = tuple(key for key, _ in live)
        self._calls = 0
        self._memo: bytearray | None = None

    def bucket(self, unit_id: str) -> int:
        h = self._unit.copy()
        h.update(unit_id.encode("utf-8", "surrogatepass"))  # as bucket_of: a broken id still routes
        return int.from_bytes(h.digest(), "big") % BUCKETS

    def _race(self, bucket: int) -> int:
        """The index of the bucket's arm. An exponential race: the largest share / -ln(u) wins. The first
        arm wins ties (strict >), in the order given: part of the assignment, do not change."""
        suffix = str(bucket).encode()
        best, best_score = 0, -1.0
        for i, (_, share, prefix) in enumerate(self._arms):
            h = prefix.copy()
            h.update(suffix)
            # (n + 0.5) / 2^64 lies strictly inside (0, 1): the logarithm is always finite and negative.
            u = (int.from_bytes(h.digest(), "big") + 0.5) / 2.0**64
            score = share / -math.log(u)
            if score > best_score:
                best, best_score = i, score
        return best

    def arm_for_bucket(self, bucket: int) -> str:
        return self._keys[self._race(bucket)]

    def assign(self, unit_id: str | None, rng: random.Random | None = None) -> str:
        if unit_id is None:
            bucket = rng.randrange(BUCKETS) if rng is not None else random.randrange(BUCKETS)
        else:  # self.bucket(unit_id), inline: this runs on every call
            h = self._unit.copy()
            h.update(unit_id.encode("utf-8", "surrogatepass"))
            bucket = int.from_bytes(h.digest(), "big") % BUCKETS
        memo = self._memo
        if memo is None:
            self._calls += 1
            if self._calls == MEMO_AFTER and len(self._keys) < 256:
                self._memo = _new_memo()  # None when the process has its share: then never again
            return self._keys[self._race(bucket)]
        known = memo[bucket]
        if not known:
            known = memo[bucket] = self._race(bucket) + 1
        return self._keys[known - 1]


@lru_cache(maxsize=16_384)
def router(seed: str, arms: tuple[Arm, ...]) -> Router:
    """The router of (seed, arms), kept for reuse (about 1 KB each). A miss builds one in O(arms) hashes
    (microseconds), so this cache has no cliff: beyond 16,384 live splits a call costs a few µs more."""
    return Router(seed, arms)


def arm_for_bucket(seed: str, arms: Sequence[Arm], bucket: int) -> str:
    """The arm of one bucket (arms with share 0 receive none); O(arms) hashes."""
    return router(seed, tuple(arms)).arm_for_bucket(bucket)


def bucket_table(seed: str, arms: Sequence[Arm]) -> tuple[str, ...]:
    """The arm of each of the 10,000 buckets: for analysis (how many buckets a change moves), not
    for routing a call, which scores only its own bucket (``assign``)."""
    r = Router(seed, arms)
    return tuple(r.arm_for_bucket(b) for b in range(BUCKETS))


def assign(seed: str, arms: Sequence[Arm], unit_id: str | None, rng: random.Random | None = None) -> str:
    """The arm serving ``unit_id`` (sticky); without a unit id, a random bucket from ``rng``."""
    if unit_id is None:
        bucket = rng.randrange(BUCKETS) if rng is not None else random.randrange(BUCKETS)
        return router(seed, tuple(arms)).arm_for_bucket(bucket)
    return router(seed, tuple(arms)).assign(unit_id)
