"""whatsapp: delivery statuses on outbox rows, contacts (service window, numbered choices)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("external_id", sa.String(128), nullable=True))
        batch.add_column(sa.Column("delivery_status", sa.String(16), nullable=True))
        batch.create_index("ix_outbox_external_id", ["external_id"])
    op.create_table(
        "whatsapp_contacts",
        sa.Column("wa_id", sa.String(32), primary_key=True),
        sa.Column("last_inbound_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("offered", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("whatsapp_contacts")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_index("ix_outbox_external_id")
        batch.drop_column("delivery_status")
        batch.drop_column("external_id")
