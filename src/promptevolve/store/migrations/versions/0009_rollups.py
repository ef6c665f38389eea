"""Rollups: aggregates an analysis or a trend reads instead of every raw call, kept current by triggers.

At 10M executions an experiment's analysis took 588 s and a variant's 30-day trend 234 s on PostgreSQL
(bench/pg_scale.py, BENCHMARKS.md): each recomputed every call's metric from the raw rows. The tables
made here hold what those reads need, maintained by ``experiments.rollups``:

- ``rollups``: one row per maintained aggregate (an experiment's per-arm sums of a metric since a time,
  its exposed units since a time, or a variant's per-minute sums of a metric), built from the raw rows
  the first time a read asks for it;
- ``rollup_units`` / ``rollup_arms``: per (arm, unit) totals and the per-arm two-level sums over them;
- ``rollup_minutes``: per-minute count, Σv and Σv² of a variant's metric;
- ``rollup_changes``: what changed since the last refresh.

**Every writer is covered, whatever its path** (the SDK's batch writer with binary COPY, the API's
group commit on its own connection, feedback through the ORM, imports): triggers on ``executions``,
``feedback``, ``scores`` and ``exposures`` append to ``rollup_changes`` the keys (experiment and unit,
variant and time) of every changed row that some rollup covers, in the writer's own transaction. A
write that no rollup covers adds nothing but one probe of the (small) ``rollups`` table; on PostgreSQL
the triggers are per statement with transition tables, so a COPY of 5,000 rows runs them once.

**Backfill**: none is needed at upgrade. A rollup is defined by the metric and the scoring
configuration of the read that asks for it (which this migration cannot know), and the first such read
builds it from the rows already stored, once; later reads refresh it from ``rollup_changes`` only.

Also an index on ``executions (experiment_id, unit_hash)`` (partial, as 0004's): a refresh recomputes
the units whose calls changed, and finds their calls by unit.

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UNIT_INDEX = "ix_executions_experiment_unit"
_COLUMNS = "kind, experiment_id, arm, unit, variant_id, ts"
_COVERED = (
    "(EXISTS (SELECT 1 FROM rollups r WHERE r.variant_id = e.variant_id) "
    "OR EXISTS (SELECT 1 FROM rollups r WHERE r.experiment_id = e.experiment_id))"
)
_FROM_EXECUTION = "'e', e.experiment_id, e.arm, COALESCE(e.unit_hash, e.id), e.variant_id, e.ts"

# (table, operation, rows of executions affected, given the changed rows as ``{rows}``)
_TRIGGERS: tuple[tuple[str, str, str], ...] = tuple(
    (table, op_name, source)
    for table, source in (
        ("executions", "{rows} e"),
        ("feedback", "{rows} f JOIN executions e ON e.id = f.execution_id"),
        ("scores", "{rows} f JOIN executions e ON e.id = f.execution_id"),
    )
    for op_name in ("insert", "update", "delete")
)


def _postgres_function(table: str, op_name: str, source: str) -> str:
    sides = {"insert": ["new_rows"], "delete": ["old_rows"], "update": ["old_rows", "new_rows"]}[op_name]
    inserts = "".join(
        f"INSERT INTO rollup_changes ({_COLUMNS}) SELECT {_FROM_EXECUTION} "
        f"FROM {source.format(rows=side)} WHERE {_COVERED};\n"
        for side in sides
    )
    return (
        f"CREATE FUNCTION rollup_log_{table}_{op_name}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        "BEGIN\n"
        "IF NOT EXISTS (SELECT 1 FROM rollups) THEN RETURN NULL; END IF;\n"
        f"{inserts}"
        "RETURN NULL;\nEND $$"
    )


def _postgres_trigger(table: str, op_name: str) -> str:
    tables = {
        "insert": "NEW TABLE AS new_rows",
        "delete": "OLD TABLE AS old_rows",
        "update": "OLD TABLE AS old_rows NEW TABLE AS new_rows",
    }[op_name]
    return (
        f"CREATE TRIGGER rollup_log_{table}_{op_name} AFTER {op_name.upper()} ON {table} "
        f"REFERENCING {tables} FOR EACH STATEMENT EXECUTE FUNCTION rollup_log_{table}_{op_name}()"
    )


def _sqlite_trigger(table: str, op_name: str, source: str) -> str:
    sides = {"insert": ["NEW"], "delete": ["OLD"], "update": ["OLD", "NEW"]}[op_name]
    body = ""
    for side in sides:
        if table == "executions":
            where = _COVERED.replace("e.", f"{side}.")
            body += (
                f"INSERT INTO rollup_changes ({_COLUMNS}) SELECT "
                f"{_FROM_EXECUTION.replace('e.', f'{side}.')} WHERE {where};\n"
            )
        else:
            body += (
                f"INSERT INTO rollup_changes ({_COLUMNS}) SELECT {_FROM_EXECUTION} "
                f"FROM executions e WHERE e.id = {side}.execution_id AND {_COVERED};\n"
            )
    return (
        f"CREATE TRIGGER rollup_log_{table}_{op_name} AFTER {op_name.upper()} ON {table} "
        f"WHEN EXISTS (SELECT 1 FROM rollups) BEGIN\n{body}END"
    )


_EXPOSURE_ROWS = (
    "'x', x.experiment_id, x.arm, COALESCE(x.unit_hash, x.id), x.variant_id, x.ts FROM {rows} x "
    "WHERE EXISTS (SELECT 1 FROM rollups r WHERE r.experiment_id = x.experiment_id)"
)


def _create_triggers(dialect: str) -> None:
    for table, op_name, source in _TRIGGERS:
        if dialect == "postgresql":
            op.execute(_postgres_function(table, op_name, source))
            op.execute(_postgres_trigger(table, op_name))
        else:
            op.execute(_sqlite_trigger(table, op_name, source))
    if dialect == "postgresql":
        op.execute(
            "CREATE FUNCTION rollup_log_exposures_insert() RETURNS trigger LANGUAGE plpgsql AS $$\n"
            "BEGIN\nIF NOT EXISTS (SELECT 1 FROM rollups) THEN RETURN NULL; END IF;\n"
            f"INSERT INTO rollup_changes ({_COLUMNS}) SELECT {_EXPOSURE_ROWS.format(rows='new_rows')};\n"
            "RETURN NULL;\nEND $$"
        )
        op.execute(_postgres_trigger("exposures", "insert"))
    else:
        rows = _EXPOSURE_ROWS.replace("x.", "NEW.").replace(" FROM {rows} x", "")
        op.execute(
            "CREATE TRIGGER rollup_log_exposures_insert AFTER INSERT ON exposures "
            f"WHEN EXISTS (SELECT 1 FROM rollups) BEGIN\n"
            f"INSERT INTO rollup_changes ({_COLUMNS}) SELECT {rows};\nEND"
        )


def upgrade() -> None:
    op.create_table(
        "rollups",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=True),
        sa.Column("variant_id", sa.Integer(), nullable=True),
        sa.Column("metric", sa.String(length=100), nullable=True),
        sa.Column("config", sa.JSON(), nullable=True),
        sa.Column("since", sa.Double(), nullable=True),
        sa.Column("built_at", sa.Double(), nullable=False),
        sa.Column("read_at", sa.Double(), nullable=False),
        sa.UniqueConstraint("key"),
    )
    op.create_index("ix_rollups_experiment_id", "rollups", ["experiment_id"])
    op.create_index("ix_rollups_variant_id", "rollups", ["variant_id"])
    op.create_table(
        "rollup_changes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(length=1), nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=True),
        sa.Column("arm", sa.String(length=64), nullable=True),
        sa.Column("unit", sa.String(length=64), nullable=True),
        sa.Column("variant_id", sa.Integer(), nullable=True),
        sa.Column("ts", sa.Double(), nullable=True),
    )
    op.create_table(
        "rollup_units",
        sa.Column("rollup_id", sa.Integer(), sa.ForeignKey("rollups.id", ondelete="CASCADE")),
        sa.Column("unit", sa.String(length=64), nullable=False),
        sa.Column("arm", sa.String(length=64), nullable=False),
        sa.Column("x", sa.Double(), nullable=False),
        sa.Column("z", sa.Integer(), nullable=False),
        sa.Column("y2", sa.Double(), nullable=False),
        sa.Column("first", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("rollup_id", "unit", "arm"),
    )
    op.create_table(
        "rollup_arms",
        sa.Column("rollup_id", sa.Integer(), sa.ForeignKey("rollups.id", ondelete="CASCADE")),
        sa.Column("arm", sa.String(length=64), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        *(sa.Column(n, sa.Double(), nullable=False) for n in ("sum_x", "sum_z", "sum_x2", "sum_z2")),
        *(sa.Column(n, sa.Double(), nullable=False) for n in ("sum_xz", "sum_y2")),
        sa.PrimaryKeyConstraint("rollup_id", "arm"),
    )
    op.create_table(
        "rollup_minutes",
        sa.Column("rollup_id", sa.Integer(), sa.ForeignKey("rollups.id", ondelete="CASCADE")),
        sa.Column("minute", sa.Integer(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("sum_v", sa.Double(), nullable=False),
        sa.Column("sum_v2", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("rollup_id", "minute"),
    )
    in_experiment = sa.text("experiment_id IS NOT NULL")
    op.create_index(
        _UNIT_INDEX,
        "executions",
        ["experiment_id", "unit_hash"],
        postgresql_where=in_experiment,
        sqlite_where=in_experiment,
    )
    _create_triggers(op.get_bind().dialect.name)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table, op_name in [(t, o) for t, o, _ in _TRIGGERS] + [("exposures", "insert")]:
        op.execute(f"DROP TRIGGER rollup_log_{table}_{op_name}" + (f" ON {table}" if postgres else ""))
        if postgres:
            op.execute(f"DROP FUNCTION rollup_log_{table}_{op_name}()")
    op.drop_index(_UNIT_INDEX, table_name="executions")
    for table in ("rollup_minutes", "rollup_arms", "rollup_units", "rollup_changes"):
        op.drop_table(table)
    op.drop_index("ix_rollups_variant_id", table_name="rollups")
    op.drop_index("ix_rollups_experiment_id", table_name="rollups")
    op.drop_table("rollups")
