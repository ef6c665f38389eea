"""Executions say what was made storable; imported feedback carries a key per row.

``executions.repairs`` records what ``core.storable`` changed so a record could be stored (a NUL in a
model's output, a lone surrogate in a variable), NULL for the rest. ``feedback.import_key`` is a hash of
an imported row's execution id, content and kind, unique (NULL for feedback given through the SDK or
the API, which both databases let repeat): importing the same file twice stores each row once.

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEX = "uq_feedback_import_key"


def upgrade() -> None:
    op.add_column("executions", sa.Column("repairs", sa.Text(), nullable=True))
    op.add_column("feedback", sa.Column("import_key", sa.String(length=64), nullable=True))
    op.create_index(_INDEX, "feedback", ["import_key"], unique=True)


def downgrade() -> None:
    op.drop_index(_INDEX, table_name="feedback")
    with op.batch_alter_table("feedback") as batch:
        batch.drop_column("import_key")
    with op.batch_alter_table("executions") as batch:
        batch.drop_column("repairs")
