"""rate_windows: the send rate of one platform account shared by instances on PostgreSQL when
no Redis is configured. One row per (account key, lane) holding the grant times of the last
window (epoch seconds, by the database's clock) and a pause a 429 set; a grant is one UPDATE,
whose row lock makes instances asking at once take turns.

Revision ID: 0039
Revises: 0038
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0039"
down_revision: str | None = "0038"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rate_windows",
        sa.Column("key", sa.String(80), primary_key=True),
        sa.Column("lane", sa.String(16), primary_key=True),
        sa.Column(
            "grants",
            postgresql.ARRAY(sa.Float()).with_variant(sa.Text(), "sqlite"),
            nullable=False,
        ),
        sa.Column("paused_until", sa.Float(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    op.drop_table("rate_windows")
