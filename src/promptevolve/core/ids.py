"""Identifiers made by the client: time-ordered, unique, 32 hex characters.

The first 12 hex digits are milliseconds since the epoch, the last 20 are random (80 bits), so ids sort
by creation time (good for B-tree inserts) and collide with probability ~1e-12 even at a million ids
in one millisecond. The SDK makes them before anything is stored, so it can return an execution id at
once while the row waits in the batch writer's queue.
"""

from __future__ import annotations

import os
import time

__all__ = ["new_id"]


def new_id() -> str:
    return f"{time.time_ns() // 1_000_000:012x}{os.urandom(10).hex()}"
