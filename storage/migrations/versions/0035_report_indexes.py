"""Indexes the self-service report reads on: the FAQ's answers by time (a partial index, only
messages that are FAQ answers, holding the customer and the entry), and each customer's
tickets by time (whether a ticket followed an answer within 24 hours is one index probe);
tickets by status and time instead of status alone (the backlog as of a past day); customer
months by month holding every column (the customer report reads the index alone).

Revision ID: 0035
Revises: 0034
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

MONTH_FIGURES = (  # as storage.models has them at this revision
    "gap",
    "first",
    "customer_id",
    "nps_n",
    "nps_promoters",
    "nps_detractors",
    "csat_n",
    "csat_satisfied",
)

revision: str = "0035"
down_revision: str | None = "0034"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_conversation_messages_faq_answers",
        "conversation_messages",
        ["created_at", "faq_entry_id", "customer_id"],
        postgresql_where=sa.text("faq_entry_id IS NOT NULL"),
        sqlite_where=sa.text("faq_entry_id IS NOT NULL"),
    )
    op.create_index("ix_tickets_customer_created", "tickets", ["customer_id", "created_at"])
    op.create_index("ix_tickets_status_created", "tickets", ["status", "created_at"])
    op.drop_index("ix_tickets_status", "tickets")
    op.create_index("ix_customer_months_by_month", "customer_months", ["month", *MONTH_FIGURES])
    op.drop_index("ix_customer_months_month", "customer_months")


def downgrade() -> None:
    op.create_index("ix_customer_months_month", "customer_months", ["month"])
    op.drop_index("ix_customer_months_by_month", "customer_months")
    op.create_index("ix_tickets_status", "tickets", ["status"])
    op.drop_index("ix_tickets_status_created", "tickets")
    op.drop_index("ix_tickets_customer_created", "tickets")
    op.drop_index("ix_conversation_messages_faq_answers", "conversation_messages")
