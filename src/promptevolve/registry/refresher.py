"""One background thread per process that renews expired serving plans and hears plan-change notices.

Every ``StaleWhileRevalidateCache`` created with ``background=True`` registers here. The thread sleeps
in ``select()`` on a wake-up socket and on the caches' notice listeners (``store.notices``), at most
``_TICK_S`` at a time, and on each wake asks every cache to do its work (``cache.service()``): poll its
listener, then load all the keys that went stale since the last round **in one batch**. So a pause
followed by traffic on 10,000 prompts costs one thread and a few queries, not 10,000 threads.

The thread starts with the first cache and ends when no cache is left (caches are held weakly). A
forked child starts with no thread and builds its own on demand.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import threading
import weakref
from typing import Protocol

__all__ = ["THREAD_NAME", "Refresher", "Serviced", "shared_refresher"]

THREAD_NAME = "promptevolve-refresher"

#: The longest the thread sleeps without a wake-up: bounds how late a retry or a reconnect runs.
_TICK_S = 1.0


class Serviced(Protocol):
    def service(self) -> None:
        """Do the pending background work (called on the refresher thread only)."""

    def wait_fd(self) -> int | None:
        """A socket to wait on (a notice listener), or None."""


class Refresher:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: weakref.WeakSet[Serviced] = weakref.WeakSet()
        self._thread: threading.Thread | None = None
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)

    def register(self, client: Serviced) -> None:
        with self._lock:
            self._clients.add(client)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=THREAD_NAME, daemon=True)
                self._thread.start()

    def wake(self) -> None:
        """Ask for a round now (cheap and safe from any thread; extra wake-ups merge)."""
        # A full socket buffer means wake-ups are pending already: a round is coming.
        with contextlib.suppress(BlockingIOError, OSError):
            self._wake_w.send(b"\0")

    def _run(self) -> None:
        while True:
            with self._lock:
                clients = list(self._clients)
                if not clients:
                    self._thread = None
                    return
            fds = [fd for c in clients if (fd := _fd(c)) is not None]
            del clients  # hold no strong reference while sleeping
            # A listener closed between the listing and the wait raises: the next round lists again.
            with contextlib.suppress(OSError, ValueError):
                select.select([self._wake_r.fileno(), *fds], [], [], _TICK_S)
            self._drain_wakeups()
            for client in list(self._clients):
                try:
                    client.service()
                except Exception:  # one cache's failure must not stop the others' refreshes
                    continue

    def _drain_wakeups(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except (BlockingIOError, OSError):
            return


def _fd(client: Serviced) -> int | None:
    try:
        return client.wait_fd()
    except Exception:  # a broken listener is the cache's to notice on its next service()
        return None


_shared: Refresher | None = None
_shared_lock = threading.Lock()


def shared_refresher() -> Refresher:
    """The process's refresher, created on first use (never at import)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Refresher()
        return _shared


def _forget_after_fork() -> None:
    global _shared, _shared_lock
    _shared, _shared_lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)
