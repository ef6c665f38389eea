"""Experiment routing seeds derived from the test's id instead of ``secrets.token_hex``.

Why: an experiment's units are hashed with its seed, so with a random seed every test that analyses an
experiment meets the SRM check's 1-in-1,000 false alarm (p < 0.001) at random, and its figures change
from run to run. Derived seeds keep each test's routing the same on every run. ``tests/conftest.py``
installs them in the test's process; a process a test spawns (``multiprocessing`` with ``spawn``) starts
with the real ``secrets`` and calls ``derive_experiment_seeds`` itself, with the test's id.
"""

from __future__ import annotations

import hashlib


class SeedsOfThisTest:
    """Stands in for ``secrets`` in ``promptevolve.experiments.service``: ``token_hex`` hashes the test's
    id and a counter (``salt`` tells apart processes of one test that each create experiments)."""

    def __init__(self, nodeid: str, salt: str = "") -> None:
        self._nodeid = nodeid if not salt else f"{nodeid}@{salt}"
        self._count = 0

    def token_hex(self, nbytes: int = 32) -> str:
        self._count += 1
        digest = hashlib.blake2b(f"{self._nodeid}#{self._count}".encode(), digest_size=nbytes)
        return digest.hexdigest()


def derive_experiment_seeds(nodeid: str, salt: str) -> None:
    """Make this (spawned) process's experiments take seeds derived from ``nodeid`` and ``salt``."""
    import promptevolve.experiments.service as experiments

    experiments.secrets = SeedsOfThisTest(nodeid, salt)  # type: ignore[assignment]
