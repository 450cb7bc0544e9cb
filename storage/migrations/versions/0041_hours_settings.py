"""hours_settings: working hours and holidays as an admin edited them in the console, over the
config file's [hours] (which stays the default). One row; its version rises with every save,
so each instance sees a change within seconds and applies it without a restart.

Revision ID: 0041
Revises: 0040
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0041"
down_revision: str | None = "0040"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "hours_settings",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("edits", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(128), nullable=False, server_default=""),
    )


def downgrade() -> None:
    op.drop_table("hours_settings")
