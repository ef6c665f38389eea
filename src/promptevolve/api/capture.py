"""The SDK's recorder, except that a request can take the rows its own call queues.

The API serves ``run`` and ``POST /executions`` with the SDK (``PromptOptimizer``), which queues what
it records (the execution, an exposure, a format score) on its recorder and returns at once. The API
must answer only once those rows are committed, so inside ``capture()`` the rows go to the request's
own list instead, and the request hands them to the group commit (``api.commits``) and waits. Outside
``capture()`` (anything else the process records) it is the SDK's recorder, unchanged.

The list is found through a ``ContextVar``: each request runs in its own asyncio task (its own
context), and ``asyncio.to_thread`` carries the context into the thread a cold cache is loaded in.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from promptevolve.api.commits import Row
from promptevolve.tracking import Recorder

__all__ = ["CapturingRecorder", "capture"]

_CAPTURED: ContextVar[list[Row] | None] = ContextVar("promptevolve_captured_rows", default=None)


@contextmanager
def capture() -> Iterator[list[Row]]:
    """Rows a ``CapturingRecorder`` is given inside this block are appended to the list yielded."""
    rows: list[Row] = []
    token = _CAPTURED.set(rows)
    try:
        yield rows
    finally:
        _CAPTURED.reset(token)


class CapturingRecorder(Recorder):
    """A ``Recorder`` whose ``enqueue`` inside ``capture()`` hands the row to the capturing request."""

    def enqueue(self, table: str, row: dict[str, Any]) -> None:
        rows = _CAPTURED.get()
        if rows is None:
            super().enqueue(table, row)
        else:
            rows.append((table, row))

    def enqueue_all(self, rows: Sequence[Row]) -> None:
        """Queue rows for the background writer (rows a request could not commit itself)."""
        for table, row in rows:
            super().enqueue(table, row)
