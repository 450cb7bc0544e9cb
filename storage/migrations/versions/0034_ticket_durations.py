"""tickets: first-response and resolution times in seconds, wall clock and working hours,
measured when they happen (the ticket report sums them in SQL). Tickets answered or resolved
before this revision get theirs from the first report that reads them: working hours need
the `[hours]` calendar, which a migration does not know.

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0034"
down_revision: str | None = "0033"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    "first_response_seconds",
    "first_response_work_seconds",
    "resolution_seconds",
    "resolution_work_seconds",
)


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        for name in COLUMNS:
            batch.add_column(sa.Column(name, sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        for name in COLUMNS:
            batch.drop_column(name)
