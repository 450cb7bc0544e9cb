"""webchat_messages: what each web chat visitor's widget shows, so a reload or a return
restores the conversation and a message sent while the page was closed is not lost

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "webchat_messages",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("session", sa.String(64), nullable=False),
        sa.Column("direction", sa.String(3), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("ref", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("shown_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_webchat_messages_session", "webchat_messages", ["session", "id"])
    op.create_index("ix_webchat_messages_created_at", "webchat_messages", ["created_at"])


def downgrade() -> None:
    op.drop_table("webchat_messages")
