"""SQLite: the rollups' change-log triggers exist only while a rollup does.

Migration 0009 created ten row triggers on ``executions``, ``feedback``, ``scores`` and ``exposures``
that log covered changes into ``rollup_changes``. On SQLite a row trigger costs ~8 µs per inserted row
even when its ``WHEN EXISTS (SELECT 1 FROM rollups)`` finds nothing, which halved the executions'
ingest on a database that defines no rollup (BENCHMARKS.md, "The recorder under sustained load"). From
this revision on, ``experiments.rollups.prepare`` creates them in the transaction that registers the
first rollup and drops them in the one that drops the last (``store.rollup_log``). Here: drop them, and
create them again at once if the database already holds a rollup, so its rollups stay exact.

PostgreSQL is unchanged: its triggers run once per statement.

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

from alembic import op

from promptevolve.store.rollup_log import create_triggers, drop_triggers, sync_triggers

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    drop_triggers(bind)
    sync_triggers(bind)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    create_triggers(bind)  # 0009's state: every trigger, whether or not a rollup exists
