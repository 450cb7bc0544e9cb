"""survey links: answers know their survey and delivery and may be flagged; a shared signing
secret; the link views that tell a mail scanner from a person

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("survey_responses") as batch:
        batch.add_column(sa.Column("survey_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("delivery_id", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("flagged", sa.String(32), nullable=True))
        batch.add_column(sa.Column("form_nonce", sa.String(32), nullable=True))
        batch.create_index("ix_survey_responses_form_nonce", ["form_nonce"], unique=True)
        batch.create_index("ix_survey_responses_delivery_id", ["delivery_id"])
    op.create_table(
        "app_secrets",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("value", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "link_views",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("delivery_id", sa.BigInteger(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_link_views_delivery_id", "link_views", ["delivery_id"])


def downgrade() -> None:
    op.drop_index("ix_link_views_delivery_id", table_name="link_views")
    op.drop_table("link_views")
    op.drop_table("app_secrets")
    with op.batch_alter_table("survey_responses") as batch:
        batch.drop_index("ix_survey_responses_delivery_id")
        batch.drop_index("ix_survey_responses_form_nonce")
        batch.drop_column("form_nonce")
        batch.drop_column("flagged")
        batch.drop_column("delivery_id")
        batch.drop_column("survey_id")
