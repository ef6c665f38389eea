"""autopilot: per-prompt leases, daily evolution budget ledger, drift detector state

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 02:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "autopilot_budget",
        sa.Column("prompt_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("tokens", sa.Integer(), nullable=False),
        sa.Column("rounds", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["prompt_id"],
            ["prompts.id"],
            name=op.f("fk_autopilot_budget_prompt_id_prompts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("prompt_id", "day", name=op.f("pk_autopilot_budget")),
    )
    op.create_table(
        "autopilot_leases",
        sa.Column("prompt_id", sa.Integer(), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("phase", sa.String(length=40), nullable=True),
        sa.Column("acquired_at", sa.Double(), nullable=False),
        sa.Column("expires_at", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["prompt_id"],
            ["prompts.id"],
            name=op.f("fk_autopilot_leases_prompt_id_prompts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("prompt_id", name=op.f("pk_autopilot_leases")),
    )
    op.create_table(
        "autopilot_drift",
        sa.Column("prompt_id", sa.Integer(), nullable=False),
        sa.Column("variant_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["prompt_id"],
            ["prompts.id"],
            name=op.f("fk_autopilot_drift_prompt_id_prompts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["variant_id"],
            ["prompt_variants.id"],
            name=op.f("fk_autopilot_drift_variant_id_prompt_variants"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("prompt_id", name=op.f("pk_autopilot_drift")),
    )


def downgrade() -> None:
    op.drop_table("autopilot_drift")
    op.drop_table("autopilot_leases")
    op.drop_table("autopilot_budget")
