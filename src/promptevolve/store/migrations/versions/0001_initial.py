"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-26 01:16:07.431532
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=128), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("prefix", name=op.f("uq_api_keys_prefix")),
    )
    op.create_table(
        "datasets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("split", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_datasets")),
        sa.UniqueConstraint("name", name=op.f("uq_datasets_name")),
    )
    op.create_table(
        "prompts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("locale", sa.String(length=20), nullable=True),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prompts")),
        sa.UniqueConstraint("name", name=op.f("uq_prompts_name")),
    )
    op.create_table(
        "dataset_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("item_key", sa.String(length=200), nullable=False),
        sa.Column("split", sa.String(length=12), nullable=False),
        sa.Column("inputs", sa.JSON(), nullable=False),
        sa.Column("expected", sa.JSON(), nullable=True),
        sa.Column("rubric", sa.Text(), nullable=True),
        sa.Column("meta", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["datasets.id"],
            name=op.f("fk_dataset_items_dataset_id_datasets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dataset_items")),
        sa.UniqueConstraint("dataset_id", "item_key", name="uq_dataset_items_dataset_key"),
    )
    with op.batch_alter_table("dataset_items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dataset_items_dataset_id"), ["dataset_id"], unique=False)

    op.create_table(
        "prompt_variants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("prompt_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("major", sa.Integer(), nullable=False),
        sa.Column("minor", sa.Integer(), nullable=False),
        sa.Column("patch", sa.Integer(), nullable=False),
        sa.Column("variant_key", sa.String(length=32), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("template_kind", sa.String(length=10), nullable=False),
        sa.Column("template", sa.JSON(), nullable=False),
        sa.Column("variables", sa.JSON(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("strategy", sa.String(length=100), nullable=True),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("rationale", sa.Text(), nullable=True),
        sa.Column("meta", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["prompt_variants.id"],
            name=op.f("fk_prompt_variants_parent_id_prompt_variants"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["prompt_id"],
            ["prompts.id"],
            name=op.f("fk_prompt_variants_prompt_id_prompts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prompt_variants")),
        sa.UniqueConstraint("prompt_id", "content_hash", name="uq_prompt_variants_prompt_content"),
        sa.UniqueConstraint("prompt_id", "version", name="uq_prompt_variants_prompt_version"),
    )
    with op.batch_alter_table("prompt_variants", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_prompt_variants_parent_id"), ["parent_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_prompt_variants_prompt_id"), ["prompt_id"], unique=False)

    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("prompt_id", sa.Integer(), nullable=False),
        sa.Column("variant_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=50), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["prompt_id"], ["prompts.id"], name=op.f("fk_audit_log_prompt_id_prompts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["variant_id"],
            ["prompt_variants.id"],
            name=op.f("fk_audit_log_variant_id_prompt_variants"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_prompt_id"), ["prompt_id"], unique=False)

    op.create_table(
        "evolutions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("prompt_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=True),
        sa.Column("parent_variant_id", sa.Integer(), nullable=False),
        sa.Column("child_variant_id", sa.Integer(), nullable=True),
        sa.Column("strategy", sa.String(length=100), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("calls_spent", sa.Integer(), nullable=False),
        sa.Column("tokens_spent", sa.Integer(), nullable=False),
        sa.Column("parent_score", sa.Double(), nullable=True),
        sa.Column("parent_ci_low", sa.Double(), nullable=True),
        sa.Column("parent_ci_high", sa.Double(), nullable=True),
        sa.Column("child_score", sa.Double(), nullable=True),
        sa.Column("child_ci_low", sa.Double(), nullable=True),
        sa.Column("child_ci_high", sa.Double(), nullable=True),
        sa.Column("improvement", sa.Double(), nullable=True),
        sa.Column("improvement_ci_low", sa.Double(), nullable=True),
        sa.Column("improvement_ci_high", sa.Double(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["child_variant_id"],
            ["prompt_variants.id"],
            name=op.f("fk_evolutions_child_variant_id_prompt_variants"),
        ),
        sa.ForeignKeyConstraint(
            ["parent_variant_id"],
            ["prompt_variants.id"],
            name=op.f("fk_evolutions_parent_variant_id_prompt_variants"),
        ),
        sa.ForeignKeyConstraint(
            ["prompt_id"], ["prompts.id"], name=op.f("fk_evolutions_prompt_id_prompts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evolutions")),
    )
    with op.batch_alter_table("evolutions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_evolutions_prompt_id"), ["prompt_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_evolutions_run_id"), ["run_id"], unique=False)

    op.create_table(
        "experiments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("prompt_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("primary_metric", sa.String(length=100), nullable=False),
        sa.Column("guardrails", sa.JSON(), nullable=False),
        sa.Column("alpha", sa.Double(), nullable=False),
        sa.Column("mde", sa.Double(), nullable=True),
        sa.Column("power", sa.Double(), nullable=False),
        sa.Column("min_sample", sa.Integer(), nullable=True),
        sa.Column("procedure", sa.String(length=30), nullable=False),
        sa.Column("seed", sa.String(length=64), nullable=False),
        sa.Column("ramp_step", sa.Integer(), nullable=True),
        sa.Column("winner_variant_id", sa.Integer(), nullable=True),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["prompt_id"], ["prompts.id"], name=op.f("fk_experiments_prompt_id_prompts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["winner_variant_id"],
            ["prompt_variants.id"],
            name=op.f("fk_experiments_winner_variant_id_prompt_variants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiments")),
    )
    with op.batch_alter_table("experiments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_experiments_prompt_id"), ["prompt_id"], unique=False)

    op.create_table(
        "prompt_labels",
        sa.Column("prompt_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("variant_id", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["prompt_id"], ["prompts.id"], name=op.f("fk_prompt_labels_prompt_id_prompts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["variant_id"],
            ["prompt_variants.id"],
            name=op.f("fk_prompt_labels_variant_id_prompt_variants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("prompt_id", "label", name=op.f("pk_prompt_labels")),
    )
    op.create_table(
        "variant_state",
        sa.Column("variant_id", sa.Integer(), nullable=False),
        sa.Column("prompt_id", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("share_bp", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["prompt_id"], ["prompts.id"], name=op.f("fk_variant_state_prompt_id_prompts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["variant_id"],
            ["prompt_variants.id"],
            name=op.f("fk_variant_state_variant_id_prompt_variants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("variant_id", name=op.f("pk_variant_state")),
    )
    with op.batch_alter_table("variant_state", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_variant_state_prompt_id"), ["prompt_id"], unique=False)

    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("prompt_id", sa.Integer(), nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=50), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name=op.f("fk_decisions_experiment_id_experiments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["prompt_id"], ["prompts.id"], name=op.f("fk_decisions_prompt_id_prompts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_decisions")),
    )
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_decisions_experiment_id"), ["experiment_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_decisions_prompt_id"), ["prompt_id"], unique=False)

    op.create_table(
        "executions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("prompt_id", sa.Integer(), nullable=True),
        sa.Column("variant_id", sa.Integer(), nullable=True),
        sa.Column("experiment_id", sa.Integer(), nullable=True),
        sa.Column("arm", sa.String(length=64), nullable=True),
        sa.Column("unit_hash", sa.String(length=64), nullable=True),
        sa.Column("variables_hash", sa.String(length=64), nullable=True),
        sa.Column("variables", sa.JSON(), nullable=True),
        sa.Column("output", sa.Text(), nullable=True),
        sa.Column("model", sa.String(length=200), nullable=True),
        sa.Column("latency_ms", sa.Double(), nullable=True),
        sa.Column("prompt_tokens", sa.Integer(), nullable=True),
        sa.Column("completion_tokens", sa.Integer(), nullable=True),
        sa.Column("cost_usd", sa.Double(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("fallback_reason", sa.String(length=100), nullable=True),
        sa.Column("error_class", sa.String(length=200), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("ts", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name=op.f("fk_executions_experiment_id_experiments"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["prompt_id"], ["prompts.id"], name=op.f("fk_executions_prompt_id_prompts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["variant_id"],
            ["prompt_variants.id"],
            name=op.f("fk_executions_variant_id_prompt_variants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_executions")),
    )
    with op.batch_alter_table("executions", schema=None) as batch_op:
        batch_op.create_index("ix_executions_experiment_arm", ["experiment_id", "arm"], unique=False)
        batch_op.create_index("ix_executions_prompt_ts", ["prompt_id", "ts"], unique=False)
        batch_op.create_index("ix_executions_variant_ts", ["variant_id", "ts"], unique=False)

    op.create_table(
        "experiment_arms",
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("arm", sa.String(length=64), nullable=False),
        sa.Column("variant_id", sa.Integer(), nullable=False),
        sa.Column("share_bp", sa.Integer(), nullable=False),
        sa.Column("is_control", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name=op.f("fk_experiment_arms_experiment_id_experiments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["variant_id"], ["prompt_variants.id"], name=op.f("fk_experiment_arms_variant_id_prompt_variants")
        ),
        sa.PrimaryKeyConstraint("experiment_id", "arm", name=op.f("pk_experiment_arms")),
    )
    op.create_table(
        "exposures",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("arm", sa.String(length=64), nullable=False),
        sa.Column("variant_id", sa.Integer(), nullable=True),
        sa.Column("unit_hash", sa.String(length=64), nullable=True),
        sa.Column("ts", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name=op.f("fk_exposures_experiment_id_experiments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["variant_id"],
            ["prompt_variants.id"],
            name=op.f("fk_exposures_variant_id_prompt_variants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exposures")),
    )
    with op.batch_alter_table("exposures", schema=None) as batch_op:
        batch_op.create_index("ix_exposures_experiment_arm", ["experiment_id", "arm"], unique=False)

    op.create_table(
        "feedback",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("execution_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value", sa.Double(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=True),
        sa.Column("ts", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["execution_id"],
            ["executions.id"],
            name=op.f("fk_feedback_execution_id_executions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback")),
    )
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_feedback_execution_id"), ["execution_id"], unique=False)

    op.create_table(
        "scores",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("execution_id", sa.String(length=32), nullable=False),
        sa.Column("metric", sa.String(length=100), nullable=False),
        sa.Column("value", sa.Double(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("ts", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["execution_id"],
            ["executions.id"],
            name=op.f("fk_scores_execution_id_executions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scores")),
    )
    with op.batch_alter_table("scores", schema=None) as batch_op:
        batch_op.create_index("ix_scores_execution_metric", ["execution_id", "metric"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("scores", schema=None) as batch_op:
        batch_op.drop_index("ix_scores_execution_metric")

    op.drop_table("scores")
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_feedback_execution_id"))

    op.drop_table("feedback")
    with op.batch_alter_table("exposures", schema=None) as batch_op:
        batch_op.drop_index("ix_exposures_experiment_arm")

    op.drop_table("exposures")
    op.drop_table("experiment_arms")
    with op.batch_alter_table("executions", schema=None) as batch_op:
        batch_op.drop_index("ix_executions_variant_ts")
        batch_op.drop_index("ix_executions_prompt_ts")
        batch_op.drop_index("ix_executions_experiment_arm")

    op.drop_table("executions")
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_decisions_prompt_id"))
        batch_op.drop_index(batch_op.f("ix_decisions_experiment_id"))

    op.drop_table("decisions")
    with op.batch_alter_table("variant_state", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_variant_state_prompt_id"))

    op.drop_table("variant_state")
    op.drop_table("prompt_labels")
    with op.batch_alter_table("experiments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_experiments_prompt_id"))

    op.drop_table("experiments")
    with op.batch_alter_table("evolutions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evolutions_run_id"))
        batch_op.drop_index(batch_op.f("ix_evolutions_prompt_id"))

    op.drop_table("evolutions")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_prompt_id"))

    op.drop_table("audit_log")
    with op.batch_alter_table("prompt_variants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_prompt_variants_prompt_id"))
        batch_op.drop_index(batch_op.f("ix_prompt_variants_parent_id"))

    op.drop_table("prompt_variants")
    with op.batch_alter_table("dataset_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dataset_items_dataset_id"))

    op.drop_table("dataset_items")
    op.drop_table("prompts")
    op.drop_table("datasets")
    op.drop_table("api_keys")
