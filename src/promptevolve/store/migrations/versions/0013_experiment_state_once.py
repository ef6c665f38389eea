"""An experiment's state is stored once: status, ramp step and shares only in their columns.

Until now ``experiments.config["state"]`` repeated ``status``, ``step`` and ``shares_bp``, which the
columns of ``experiments`` (``status``, ``ramp_step``) and ``experiment_arms`` (``share_bp``) hold for the
router and for people; every load overwrote the copies with the columns. The upgrade drops the copies
(the columns, which always won, are kept as they are); the downgrade writes them back from the columns,
since the older code reads them.

Revision ID: 0013
Revises: 0012
"""

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COPIES = ("status", "shares_bp", "step")


def _experiments(conn: sa.Connection) -> list[tuple[int, dict[str, Any], str, int | None]]:
    found = conn.execute(sa.text("SELECT id, config, status, ramp_step FROM experiments ORDER BY id")).all()
    return [
        (int(i), json.loads(c) if isinstance(c, str) else dict(c or {}), str(st), step)
        for i, c, st, step in found
    ]


def _write(conn: sa.Connection, experiment_id: int, config: dict[str, Any]) -> None:
    conn.execute(
        sa.text("UPDATE experiments SET config = :config WHERE id = :id").bindparams(
            sa.bindparam("config", type_=sa.JSON())
        ),
        {"config": config, "id": experiment_id},
    )


def upgrade() -> None:
    conn = op.get_bind()
    for experiment_id, config, _, _ in _experiments(conn):
        state = config.get("state")
        if not isinstance(state, dict) or not any(k in state for k in _COPIES):
            continue
        config["state"] = {k: v for k, v in state.items() if k not in _COPIES}
        _write(conn, experiment_id, config)


def downgrade() -> None:
    conn = op.get_bind()
    for experiment_id, config, status, step in _experiments(conn):
        state = config.get("state")
        if not isinstance(state, dict):
            continue
        shares = conn.execute(
            sa.text("SELECT arm, share_bp FROM experiment_arms WHERE experiment_id = :id ORDER BY arm"),
            {"id": experiment_id},
        ).all()
        config["state"] = {
            "status": status,
            "shares_bp": {arm: int(bp) for arm, bp in shares},
            "step": step,
            **state,
        }
        _write(conn, experiment_id, config)
