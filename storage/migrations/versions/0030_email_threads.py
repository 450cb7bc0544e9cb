"""email_messages: every email's Message-ID with its ticket, so replies find their thread

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "email_messages",
        sa.Column("message_id", sa.String(255), primary_key=True),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("inbound", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_email_messages_ticket_id", "email_messages", ["ticket_id"])


def downgrade() -> None:
    op.drop_index("ix_email_messages_ticket_id", table_name="email_messages")
    op.drop_table("email_messages")
