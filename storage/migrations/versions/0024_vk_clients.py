"""vk_clients: what each VK user's app can show (keyboards, inline keyboards, callback
buttons), from the client_info VK sends with every message

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "vk_clients",
        sa.Column("peer_id", sa.String(32), primary_key=True),
        sa.Column("keyboard", sa.Boolean(), nullable=False),
        sa.Column("inline", sa.Boolean(), nullable=False),
        sa.Column("callback", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("vk_clients")
