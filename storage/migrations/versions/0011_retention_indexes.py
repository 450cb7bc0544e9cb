"""retention indexes: the oldest conversation, inbound and outbox rows are found by time

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXES = [
    ("ix_conversation_messages_created_at", "conversation_messages", "created_at"),
    ("ix_inbound_events_received_at", "inbound_events", "received_at"),
    ("ix_outbox_created_at", "outbox", "created_at"),
]


def upgrade() -> None:
    for name, table, column in _INDEXES:
        op.create_index(name, table, [column])


def downgrade() -> None:
    for name, table, _ in _INDEXES:
        op.drop_index(name, table_name=table)
