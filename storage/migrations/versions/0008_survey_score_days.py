"""survey score days: the daily roll-up reports read, backfilled from existing answers

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "survey_score_days",
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("answers", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "kind", "day", "campaign_id", "channel", "score", name=op.f("pk_survey_score_days")
        ),
    )
    # Answers stored before this revision: one pass, grouped the way add_response counts.
    if op.get_bind().dialect.name == "postgresql":
        day = "(created_at AT TIME ZONE 'UTC')::date"
    else:
        day = "date(created_at)"
    op.execute(
        "INSERT INTO survey_score_days (kind, day, campaign_id, channel, score, answers) "
        f"SELECT kind, {day}, COALESCE(campaign_id, 0), channel, score, count(*) "
        "FROM survey_responses WHERE score IS NOT NULL "
        f"GROUP BY kind, {day}, COALESCE(campaign_id, 0), channel, score"
    )


def downgrade() -> None:
    op.drop_table("survey_score_days")
