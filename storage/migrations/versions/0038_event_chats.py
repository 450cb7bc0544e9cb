"""inbound_events.chat_key: the chat an event belongs to (a Telegram private chat or a group's
topic, a VK or WhatsApp sender, an HTTP channel's user), so that one chat's events are handled
in the order they were stored, one instance at a time, however a load balancer spread them.
Indexed only while pending: the handling transaction looks for a chat's earlier pending events.

Revision ID: 0038
Revises: 0037
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0038"
down_revision: str | None = "0037"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = sa.text("status = 'pending'")


def upgrade() -> None:
    with op.batch_alter_table("inbound_events") as batch:
        batch.add_column(sa.Column("chat_key", sa.String(160), nullable=True))
    op.create_index(
        "ix_inbound_events_pending_chat",
        "inbound_events",
        ["chat_key", "id"],
        postgresql_where=PENDING,
        sqlite_where=PENDING,
    )


def downgrade() -> None:
    op.drop_index("ix_inbound_events_pending_chat", "inbound_events")
    with op.batch_alter_table("inbound_events") as batch:
        batch.drop_column("chat_key")
