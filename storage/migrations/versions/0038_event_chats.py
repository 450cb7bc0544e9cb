"""inbound_events.chat_key: the chat an update belongs to, so that one chat's updates are
handled in the order they came, one instance at a time, however the load balancer spread them.

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


def upgrade() -> None:
    with op.batch_alter_table("inbound_events") as batch:
        batch.add_column(sa.Column("chat_key", sa.String(160), nullable=True))
    op.create_index("ix_inbound_events_chat", "inbound_events", ["chat_key", "id"])


def downgrade() -> None:
    op.drop_index("ix_inbound_events_chat", "inbound_events")
    with op.batch_alter_table("inbound_events") as batch:
        batch.drop_column("chat_key")
