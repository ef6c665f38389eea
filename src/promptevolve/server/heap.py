"""The heap a server builds at startup, kept out of Python's full garbage collections while it serves.

A worker imports FastAPI, pydantic, SQLAlchemy, SciPy and the app, then opens its services: about
270,000 objects the cyclic collector tracks, nearly all alive until the process ends. Python's
collector is generational: a request's objects outlive the youngest generation (700 allocations, a
few milliseconds at a thousand requests a second) and reach the oldest, so a full collection runs
about once a second under load, and a full collection walks every tracked object: 105–150 ms with the
event loop stopped (measured with ``gc.callbacks`` in a worker under ``bench/api_load.py``, every loop
stall over 60 ms was one of them; BENCHMARKS.md). That was the API's p99 (87–137 ms against a p50 of
5–10 ms).

``gc.freeze()`` (Python 3.7+, the remedy its documentation gives for long-lived startup state) moves
every tracked object into a permanent generation that collections skip: a full collection then walks
only what was created since (a few thousand objects, a few milliseconds). It is taken after a
``gc.collect()``, so the garbage of startup is freed rather than frozen.

What a caller may rely on (``with frozen_startup_heap(): serve``):

- objects frozen are still freed when their reference count falls to zero; only a *cycle* among
  them that becomes garbage while serving is kept until the block ends (the startup objects that
  die while serving are few: replaced cache entries, closed connections);
- on leaving, the permanent generation is returned to the collector (``gc.unfreeze()``), so a
  process that starts and stops apps (the test suite) does not keep their garbage. The freeze is the
  process's, as the collector is: two apps serving in one process share it, and the first to stop
  ends it for both (they are then collected as before, nothing is lost).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["frozen_startup_heap"]


@contextmanager
def frozen_startup_heap() -> Iterator[None]:
    """Collect, then freeze every tracked object until the block ends (see the module docstring)."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
