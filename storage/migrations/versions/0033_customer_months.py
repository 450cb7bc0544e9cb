"""customer_months: the months in which each customer wrote (activity, churn and cohorts read
it instead of every message), filled from the messages so far; customers.active_month

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0033"
down_revision: str | None = "0032"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "customer_months",
        sa.Column(
            "customer_id",
            sa.Integer(),
            sa.ForeignKey("customers.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("month", sa.String(7), primary_key=True),
    )
    op.create_index("ix_customer_months_month", "customer_months", ["month"])
    with op.batch_alter_table("customers") as batch:
        batch.add_column(sa.Column("active_month", sa.String(7), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        month = "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM')"
    else:
        month = "substr(created_at, 1, 7)"  # stored as ISO text in UTC
    op.execute(
        f"INSERT INTO customer_months (customer_id, month) SELECT DISTINCT customer_id, {month} "
        "FROM conversation_messages WHERE direction = 'in'"
    )
    op.execute(
        "UPDATE customers SET active_month = (SELECT max(month) FROM customer_months "
        "WHERE customer_months.customer_id = customers.id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("active_month")
    op.drop_table("customer_months")
