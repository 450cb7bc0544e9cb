"""outbox and inbound_events: a lease on each row (owner and expiry). The instance that
queued a reply or stored an update holds it while it works on it and renews it while it
lives; another instance's recovery takes only rows whose lease has expired (their instance
died), claimed with FOR UPDATE SKIP LOCKED on PostgreSQL so two recoveries never take the
same row.

Revision ID: 0037
Revises: 0036
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0037"
down_revision: str | None = "0036"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("outbox", "inbound_events")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("lease_owner", sa.String(128), nullable=True))
            batch.add_column(sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("lease_until")
            batch.drop_column("lease_owner")
