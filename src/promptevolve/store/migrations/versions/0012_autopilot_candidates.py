"""The autopilot's candidates get a table with a status column, filled from the decision log.

Until now the autopilot rebuilt its pending candidate at each read by scanning up to 200 decision-log
rows and interpreting their ``figures``. ``autopilot_candidates`` holds one row per candidate an
evolution round produced (``autopilot.candidates`` describes the statuses), changed in the same
transaction as the log entry that moves it. The upgrade replays the log, oldest entry first, with the
rule the code applies as it writes (a copy here, so this migration keeps meaning what it means when
that code changes): an ``evolved`` entry naming a candidate adds it (``gated`` when its gate passed,
else ``failed_gate``); ``approved`` moves the gated rows of that version to ``approved``;
``experiment_started``, ``candidate_rejected`` and ``candidate_stale`` move its pending rows to
``testing`` (with the experiment), ``rejected`` and ``stale``. The log itself is not changed.

Revision ID: 0012
Revises: 0011
"""

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEX = "ix_autopilot_candidates_prompt_status"
_MOVES = {
    "approved": ("approved", ("gated",)),
    "experiment_started": ("testing", ("gated", "approved")),
    "candidate_rejected": ("rejected", ("gated", "approved")),
    "candidate_stale": ("stale", ("gated", "approved")),
}


def upgrade() -> None:
    op.create_table(
        "autopilot_candidates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("prompt_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("parent", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("gate", sa.String(length=16), nullable=False),
        sa.Column("decision_id", sa.Integer(), nullable=False),
        sa.Column("changed_by", sa.Integer(), nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["prompt_id"],
            ["prompts.id"],
            name=op.f("fk_autopilot_candidates_prompt_id_prompts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["decision_id"],
            ["decisions.id"],
            name=op.f("fk_autopilot_candidates_decision_id_decisions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["changed_by"],
            ["decisions.id"],
            name=op.f("fk_autopilot_candidates_changed_by_decisions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name=op.f("fk_autopilot_candidates_experiment_id_experiments"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_autopilot_candidates")),
    )
    op.create_index(_INDEX, "autopilot_candidates", ["prompt_id", "status"])
    _backfill(op.get_bind())


def _backfill(conn: sa.Connection) -> None:
    entries = conn.execute(
        sa.text(
            "SELECT id, prompt_id, experiment_id, action, figures, at FROM decisions "
            "WHERE action IN ('evolved', 'approved', 'experiment_started', 'candidate_rejected', "
            "'candidate_stale') ORDER BY id"
        )
    ).all()
    for entry_id, prompt_id, experiment_id, action, raw, at in entries:
        figures: Any = json.loads(raw) if isinstance(raw, str) else raw
        version = figures.get("candidate") if isinstance(figures, dict) else None
        if not isinstance(version, str):
            continue
        if action == "evolved":
            gate = str(figures.get("status"))
            conn.execute(
                sa.text(
                    "INSERT INTO autopilot_candidates (prompt_id, version, parent, status, gate, "
                    "decision_id, changed_by, experiment_id, created_at, updated_at) VALUES (:prompt_id, "
                    ":version, :parent, :status, :gate, :id, :id, NULL, :at, :at)"
                ),
                {
                    "prompt_id": prompt_id,
                    "version": version,
                    "parent": str(figures.get("parent")),
                    "status": "gated" if gate == "passed" else "failed_gate",
                    "gate": gate,
                    "id": entry_id,
                    "at": at,
                },
            )
            continue
        status, moving = _MOVES[action]
        also = ", experiment_id = :experiment_id" if status == "testing" else ""
        conn.execute(
            sa.text(
                f"UPDATE autopilot_candidates SET status = :status, changed_by = :id, updated_at = :at{also} "
                "WHERE prompt_id = :prompt_id AND version = :version AND status IN :moving"
            ).bindparams(sa.bindparam("moving", expanding=True)),
            {
                "status": status,
                "id": entry_id,
                "at": at,
                "experiment_id": experiment_id,
                "prompt_id": prompt_id,
                "version": version,
                "moving": list(moving),
            },
        )


def downgrade() -> None:
    # The decision log keeps everything the table said: the older code rebuilds it from there.
    op.drop_index(_INDEX, table_name="autopilot_candidates")
    op.drop_table("autopilot_candidates")
