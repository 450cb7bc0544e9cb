"""channels: staff's chosen reply channel per ticket, the channel of each ticket message, and
numbered choices offered per identity (any channel without buttons; WhatsApp's move here)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(
            sa.Column("reply_channel", sa.String(32), nullable=False, server_default="")
        )
    with op.batch_alter_table("ticket_messages") as batch:
        batch.add_column(sa.Column("channel", sa.String(32), nullable=False, server_default=""))
    with op.batch_alter_table("channel_identities") as batch:
        batch.add_column(sa.Column("offered", sa.Text(), nullable=False, server_default=""))
    with op.batch_alter_table("whatsapp_contacts") as batch:
        batch.drop_column("offered")


def downgrade() -> None:
    with op.batch_alter_table("whatsapp_contacts") as batch:
        batch.add_column(sa.Column("offered", sa.Text(), nullable=False, server_default="{}"))
    with op.batch_alter_table("channel_identities") as batch:
        batch.drop_column("offered")
    with op.batch_alter_table("ticket_messages") as batch:
        batch.drop_column("channel")
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("reply_channel")
