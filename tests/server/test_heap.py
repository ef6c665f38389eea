"""The served app keeps its startup heap out of full garbage collections while it serves
(``server.heap``), frees startup garbage first, and gives the heap back to the collector when it stops."""

from __future__ import annotations

import gc
import weakref

from fastapi.testclient import TestClient

from promptevolve.core.settings import Settings
from promptevolve.server.app import create_app
from promptevolve.server.heap import frozen_startup_heap


class Node:
    def __init__(self) -> None:
        self.me = self


def test_the_served_app_freezes_its_startup_heap_until_it_stops(database_url: str) -> None:
    app = create_app(Settings(database_url=database_url, actor="test", default_provider="scripted"))
    assert gc.get_freeze_count() == 0
    with TestClient(app) as client:
        assert gc.get_freeze_count() > 10_000  # the imports, the app and its services
        assert client.get("/api/v1/health").status_code == 200
    assert gc.get_freeze_count() == 0


def test_startup_garbage_is_freed_not_frozen() -> None:
    garbage = Node()  # a cycle: only the cyclic collector frees it
    dead = weakref.ref(garbage)
    del garbage
    with frozen_startup_heap():
        assert dead() is None
        kept = Node()
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0
    assert kept.me is kept
