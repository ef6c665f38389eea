"""Telemetry tables without foreign keys: executions and exposures.

PostgreSQL checks a foreign key with a trigger per row: on the executions table (three of them) that
took ingest from 73k to 42k rows/s in COPY (bench/ingest.py). Only the SDK writes these rows, with ids it
has just resolved from the registry, and variants are never deleted, so the checks bought nothing the
write path does not already guarantee. Feedback and scores keep their key to executions.

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KEYS = (
    ("executions", "fk_executions_prompt_id_prompts", "prompts", "prompt_id", "CASCADE"),
    ("executions", "fk_executions_variant_id_prompt_variants", "prompt_variants", "variant_id", "CASCADE"),
    ("executions", "fk_executions_experiment_id_experiments", "experiments", "experiment_id", "SET NULL"),
    ("exposures", "fk_exposures_experiment_id_experiments", "experiments", "experiment_id", "CASCADE"),
    ("exposures", "fk_exposures_variant_id_prompt_variants", "prompt_variants", "variant_id", "CASCADE"),
)


def upgrade() -> None:
    for table in ("executions", "exposures"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for t, name, _, _, _ in _KEYS:
                if t == table:
                    batch_op.drop_constraint(name, type_="foreignkey")


def downgrade() -> None:
    for table in ("executions", "exposures"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for t, name, referred, column, ondelete in _KEYS:
                if t == table:
                    batch_op.create_foreign_key(name, referred, [column], ["id"], ondelete=ondelete)
