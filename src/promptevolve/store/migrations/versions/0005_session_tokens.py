"""Dashboard sessions: a random token per sign-in, stored hashed, tied to its API key, with an expiry.

Until now the dashboard's cookie held the API key itself, so a leaked cookie was a working key until the
key was revoked. A session token dies at sign-out, at expiry, and with its key (``ON DELETE CASCADE``
and the key's ``revoked_at``, checked on every request).

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "session_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["key_id"], ["api_keys.id"], name=op.f("fk_session_tokens_key_id_api_keys"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_session_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_session_tokens_token_hash")),
    )
    op.create_index(op.f("ix_session_tokens_key_id"), "session_tokens", ["key_id"])


def downgrade() -> None:
    # Everyone signed in to the dashboard signs in again: sessions have no place in the older schema.
    op.drop_index(op.f("ix_session_tokens_key_id"), table_name="session_tokens")
    op.drop_table("session_tokens")
