"""customers: the channels a customer blocked, one by one (unreachable: all of them)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.add_column(
            sa.Column("blocked_channels", sa.String(256), nullable=False, server_default="")
        )
    # Until now a block made the whole customer unreachable: it came from their last channel.
    op.execute(
        "UPDATE customers SET blocked_channels = last_channel "
        "WHERE unreachable AND last_channel IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("blocked_channels")
