"""Identifiers made by the client: time-ordered, unique, 32 hex characters.

The first 12 hex digits are milliseconds since the epoch, the last 20 are random (80 bits), so ids sort
by creation time (good for B-tree inserts) and collide with probability ~1e-12 even at a million ids
in one millisecond. The SDK makes them before anything is stored, so it can return an execution id at
once while the row waits in the batch writer's queue.

The random part comes from ``os.urandom``, read 4 KiB at a time: one system call per 409 ids instead of
one per id (a tenth of ``run()``'s own time on a busy machine). A forked child drops the parent's unread
bytes, so two processes never hand out the same ones.
"""

from __future__ import annotations

import os
import threading
import time

__all__ = ["new_id"]

_CHUNK = 4096
_lock = threading.Lock()
_pool = b""
_at = 0


def _forget_after_fork() -> None:
    global _pool, _at, _lock
    _pool, _at, _lock = b"", 0, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)


def new_id() -> str:
    global _pool, _at
    with _lock:  # 10 random bytes from the pool, refilled every 409 ids
        if _at + 10 > len(_pool):
            _pool, _at = os.urandom(_CHUNK), 0
        random10 = _pool[_at : _at + 10]
        _at += 10
    return f"{time.time_ns() // 1_000_000:012x}{random10.hex()}"
