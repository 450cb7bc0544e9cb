"""faq_vectors: dense vectors of FAQ texts, keyed by model and the text's hash; faq_misses:
the questions the bot could not answer and the answers rated 👎 (for `otklik faq gaps`)

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "faq_vectors",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("text_key", sa.String(64), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("model", "text_key"),
    )
    op.create_table(
        "faq_misses",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "message_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.ForeignKey("conversation_messages.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column(
            "faq_entry_id",
            sa.Integer(),
            sa.ForeignKey("faq_entries.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("message_id", "kind"),
    )
    op.create_index("ix_faq_misses_created_at", "faq_misses", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_faq_misses_created_at", "faq_misses")
    op.drop_table("faq_misses")
    op.drop_table("faq_vectors")
