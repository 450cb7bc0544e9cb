"""What the FAQ did not answer: misses recorded as they happen, read back for `faq gaps`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ConversationMessage, FaqMiss
from storage.repositories._upsert import upsert_insert
from storage.repositories.conversation import write_after_log

UNANSWERED = "unanswered"  # nothing close enough to offer
SUGGESTED = "suggested"  # close entries offered, none sure enough to answer with
UNHELPFUL = "unhelpful"  # answered, and the answer was rated 👎
KINDS = (UNANSWERED, SUGGESTED, UNHELPFUL)


@dataclass(frozen=True)
class Miss:
    text: str
    kind: str
    faq_entry_id: int | None
    created_at: datetime


class FaqGaps:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def record(
        self, message_id: int, kind: str, faq_entry_id: int | None, now: datetime
    ) -> None:
        """Once per message and kind: a redelivered message or a second 👎 adds nothing. In a
        batch whose log is written behind (one INSERT for the batch), the miss is written
        right after it: its message row does not exist before."""
        table = FaqMiss.__table__
        assert isinstance(table, Table)
        statement = (
            upsert_insert(self._session, table)
            .values(message_id=message_id, kind=kind, faq_entry_id=faq_entry_id, created_at=now)
            .on_conflict_do_nothing(index_elements=["message_id", "kind"])
        )
        if not write_after_log(self._session, statement):
            await self._session.execute(statement)

    async def question_before(self, customer_id: int, message_id: int) -> int | None:
        """The customer's last typed message before an answer: what the answer answered."""
        statement = (
            select(ConversationMessage.id)
            .where(
                ConversationMessage.customer_id == customer_id,
                ConversationMessage.id < message_id,
                ConversationMessage.direction == "in",
                ConversationMessage.button_data.is_(None),
                ConversationMessage.text != "",
            )
            .order_by(ConversationMessage.id.desc())
            .limit(1)
        )
        return (await self._session.execute(statement)).scalar_one_or_none()

    async def misses(
        self, since: datetime | None, until: datetime | None, limit: int = 5000
    ) -> list[Miss]:
        """The newest `limit` misses in the window (the work of grouping them is bounded)."""
        statement = (
            select(ConversationMessage.text, FaqMiss.kind, FaqMiss.faq_entry_id, FaqMiss.created_at)
            .join(ConversationMessage, ConversationMessage.id == FaqMiss.message_id)
            .order_by(FaqMiss.created_at.desc(), FaqMiss.id.desc())
            .limit(limit)
        )
        if since is not None:
            statement = statement.where(FaqMiss.created_at >= since)
        if until is not None:
            statement = statement.where(FaqMiss.created_at < until)
        rows = (await self._session.execute(statement)).all()
        return [Miss(r.text, r.kind, r.faq_entry_id, r.created_at) for r in rows]
