"""An index on executions' time alone, for the newest executions across every prompt.

``GET /executions`` (and ``promptevolve executions list``) without a prompt, a version or an
experiment reads the newest rows first. Without an index on ``ts`` each page sorted the whole table:
0.46 s at 200k executions and growing with the table (bench/pg_scale.py, BENCHMARKS.md). The index is
appended to at its right edge (executions arrive in time order), so it costs the ingest path little.
With a filter the existing ``(prompt_id, ts)`` and ``(variant_id, ts)`` indexes serve the page, since
the list resolves names to ids first.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NAME = "ix_executions_ts"


def upgrade() -> None:
    op.create_index(_NAME, "executions", ["ts"])


def downgrade() -> None:
    op.drop_index(_NAME, table_name="executions")
