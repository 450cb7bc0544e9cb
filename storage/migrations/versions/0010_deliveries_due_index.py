"""deliveries due index: reminders and expiry read only what is due

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_deliveries_due", "deliveries", ["campaign_id", "status", "sent_at"])


def downgrade() -> None:
    op.drop_index("ix_deliveries_due", table_name="deliveries")
