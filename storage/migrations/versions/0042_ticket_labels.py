"""ticket_labels: words staff put on tickets (a ticket may have several) to find and group
them; routing_rules.set_labels: the labels a matching rule puts on a new ticket.

Revision ID: 0042
Revises: 0041
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0042"
down_revision: str | None = "0041"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ticket_labels",
        sa.Column(
            "ticket_id",
            sa.Integer(),
            sa.ForeignKey("tickets.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("label", sa.String(40), primary_key=True),
    )
    op.create_index("ix_ticket_labels_label", "ticket_labels", ["label", "ticket_id"])
    with op.batch_alter_table("routing_rules") as table:
        table.add_column(sa.Column("set_labels", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("routing_rules") as table:
        table.drop_column("set_labels")
    op.drop_index("ix_ticket_labels_label", "ticket_labels")
    op.drop_table("ticket_labels")
