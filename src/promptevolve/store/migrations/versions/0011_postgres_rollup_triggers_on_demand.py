"""PostgreSQL: the rollups' change-log triggers exist only while a rollup does (as on SQLite since 0010).

0009's triggers on PostgreSQL run once per statement, but each keeps a transition table of the rows its
statement changed: every row a COPY inserts into ``executions`` is copied once more for a trigger that
then finds no rollup (~0.9 µs of the server's CPU per row, of ~5–7; BENCHMARKS.md, "Ingest"). From this
revision on, ``experiments.rollups.prepare`` creates them in the transaction that registers the first
rollup and drops them with the last (``store.rollup_log``). Here: drop them unless the database holds a
rollup. Their functions stay.

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

from alembic import op
from sqlalchemy import text

from promptevolve.store.rollup_log import create_triggers, drop_triggers

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    bind = op.get_bind()
    if (
        bind.dialect.name == "postgresql"
        and not bind.execute(text("SELECT EXISTS (SELECT 1 FROM rollups)")).scalar()
    ):
        drop_triggers(bind)  # waiting for the locks as long as the migration does


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        create_triggers(bind)  # 0010's state: every trigger, whether or not a rollup exists
