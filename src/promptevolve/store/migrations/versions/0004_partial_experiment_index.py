"""The executions' experiment index holds only executions made inside an experiment.

Most executions are served outside any experiment (``experiment_id`` NULL). Every index is one more
B-tree insert per row on the ingest path; a partial index (``WHERE experiment_id IS NOT NULL``) costs
nothing for those rows and answers the same queries: every query that reads it filters on
``experiment_id = :id``, which both PostgreSQL and SQLite know implies ``IS NOT NULL``.

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NAME = "ix_executions_experiment_arm"


def upgrade() -> None:
    op.drop_index(_NAME, table_name="executions")
    in_experiment = sa.text("experiment_id IS NOT NULL")
    op.create_index(
        _NAME,
        "executions",
        ["experiment_id", "arm"],
        postgresql_where=in_experiment,
        sqlite_where=in_experiment,
    )


def downgrade() -> None:
    op.drop_index(_NAME, table_name="executions")
    op.create_index(_NAME, "executions", ["experiment_id", "arm"])
