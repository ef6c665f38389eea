"""Time-ordered indexes for the executions list: across every prompt, and within an experiment.

``GET /executions`` (and ``promptevolve executions list``) without a prompt, a version or an
experiment reads the newest rows first. Without an index on ``ts`` each page sorted the whole table:
0.46 s at 200k executions and growing with the table (bench/pg_scale.py, BENCHMARKS.md). The index is
appended to at its right edge (executions arrive in time order), so it costs the ingest path little.
With a filter the existing ``(prompt_id, ts)`` and ``(variant_id, ts)`` indexes serve the page, since
the list resolves names to ids first. An experiment's page read the ``(experiment_id, arm)`` index and
sorted the experiment's every call (3 s at 330k calls on SQLite); ``(experiment_id, ts)``, partial like
0004's (executions outside experiments cost it nothing), gives it in order.

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIME = "ix_executions_ts"
_EXPERIMENT_TIME = "ix_executions_experiment_ts"


def upgrade() -> None:
    op.create_index(_TIME, "executions", ["ts"])
    in_experiment = sa.text("experiment_id IS NOT NULL")
    op.create_index(
        _EXPERIMENT_TIME,
        "executions",
        ["experiment_id", "ts"],
        postgresql_where=in_experiment,
        sqlite_where=in_experiment,
    )


def downgrade() -> None:
    op.drop_index(_EXPERIMENT_TIME, table_name="executions")
    op.drop_index(_TIME, table_name="executions")
