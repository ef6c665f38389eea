"""The telemetry tables as the API's group commit (``api.commits``) writes them: which tables, in which
order, and the one read it makes (which of the executions a feedback names are stored).

The group commit writes through the drivers' own COPY and cursors (no ORM, its batching is its
performance), so it asks for ``Table`` objects and SQL text here instead of importing the tables.
"""

from __future__ import annotations

from sqlalchemy import Table

from promptevolve.store.tables import Base

__all__ = ["STORED_EXECUTIONS_SQL", "TABLE_ORDER", "telemetry_tables"]

#: Write order within a transaction: parents before children.
TABLE_ORDER = ("executions", "exposures", "feedback", "scores")

#: The ids of stored executions among some: ``{in_}`` is the driver's "in this list" (``IN (?, …)`` on
#: SQLite, ``= ANY(%s)`` on PostgreSQL).
STORED_EXECUTIONS_SQL = "SELECT id FROM executions WHERE id {in_}"


def telemetry_tables() -> dict[str, Table]:
    """Each telemetry table by name, in ``TABLE_ORDER``."""
    return {name: Base.metadata.tables[name] for name in TABLE_ORDER}
