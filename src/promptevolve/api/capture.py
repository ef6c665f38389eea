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

from promptevolve.api.commits import Row
from promptevolve.tracking import Record, Recorder
from promptevolve.tracking.records import record_from_row, row_of, table_of

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
    """A ``Recorder`` whose ``record`` inside ``capture()`` hands the record, as a row, to the capturing
    request (the group commit writes rows of any source: feedback too)."""

    def record(self, record: Record) -> None:
        rows = _CAPTURED.get()
        if rows is None:
            super().record(record)
        else:
            rows.append((table_of(record), row_of(record)))

    def enqueue_all(self, rows: Sequence[Row]) -> None:
        """Queue rows for the background writer (rows a request could not commit itself)."""
        for table, row in rows:
            super().record(record_from_row(table, row))
