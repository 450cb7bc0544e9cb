"""customer_months: the months in which each customer wrote or answered a survey, with their
first month, the gap to their next active month and the month's NPS and CSAT counts (activity,
churn, cohorts and churned-versus-retained scores read it instead of every message), filled
from the messages and answers so far; customers.active_month; tickets.reopens and indexes on
tickets.created_at and resolved_at (the ticket report reads tickets by when they opened and
the backlog by when they were resolved)

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

_INDEX = "CAST(substr({m}, 1, 4) AS INTEGER) * 12 + CAST(substr({m}, 6, 2) AS INTEGER)"


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
        sa.Column("first", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("gap", sa.Integer(), nullable=True),
        *(
            sa.Column(name, sa.Integer(), nullable=False, server_default="0")
            for name in ("nps_n", "nps_promoters", "nps_detractors", "csat_n", "csat_satisfied")
        ),
    )
    op.create_index("ix_customer_months_month", "customer_months", ["month"])
    op.create_index("ix_tickets_created_at", "tickets", ["created_at"])
    op.create_index("ix_tickets_resolved_at", "tickets", ["resolved_at"])
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("reopens", sa.Integer(), nullable=False, server_default="0"))
    op.execute(
        "UPDATE tickets SET reopens = (SELECT count(*) FROM ticket_messages WHERE ticket_id ="
        " tickets.id AND kind = 'system' AND text = 'reopened')"
    )
    with op.batch_alter_table("customers") as batch:
        batch.add_column(sa.Column("active_month", sa.String(7), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        month = "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM')"
    else:
        month = "substr(created_at, 1, 7)"  # stored as ISO text in UTC
    counted = "flagged IS NULL AND score IS NOT NULL AND customer_id IS NOT NULL"
    op.execute(
        f"INSERT INTO customer_months (customer_id, month) SELECT DISTINCT customer_id, {month} "
        "FROM conversation_messages WHERE direction = 'in' "
        f"UNION SELECT DISTINCT customer_id, {month} FROM survey_responses "
        f"WHERE kind IN ('nps', 'csat') AND {counted}"
    )
    op.execute(
        "UPDATE customer_months SET first = (month = (SELECT min(m.month) FROM customer_months m"
        " WHERE m.customer_id = customer_months.customer_id))"
    )
    op.execute(
        "UPDATE customer_months SET gap = (SELECT min("
        + _INDEX.format(m="m.month")
        + ") FROM customer_months m WHERE m.customer_id = customer_months.customer_id"
        " AND m.month > customer_months.month) - " + _INDEX.format(m="customer_months.month")
    )
    for column, condition in (
        ("nps_n", "kind = 'nps'"),
        ("nps_promoters", "kind = 'nps' AND score >= 9"),
        ("nps_detractors", "kind = 'nps' AND score <= 6"),
        ("csat_n", "kind = 'csat'"),
        ("csat_satisfied", "kind = 'csat' AND score >= 4"),
    ):
        op.execute(
            f"UPDATE customer_months SET {column} = (SELECT count(*) FROM survey_responses"
            f" WHERE customer_id = customer_months.customer_id AND {month} = customer_months.month"
            f" AND {condition} AND {counted})"
        )
    op.execute(
        "UPDATE customers SET active_month = (SELECT max(month) FROM customer_months "
        "WHERE customer_months.customer_id = customers.id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("active_month")
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("reopens")
    op.drop_index("ix_tickets_resolved_at", table_name="tickets")
    op.drop_index("ix_tickets_created_at", table_name="tickets")
    op.drop_table("customer_months")
