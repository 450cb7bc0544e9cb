from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ConversationMessage


class ConversationLog:
    """Every message in and out, per customer, across channels."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(
        self,
        customer_id: int,
        channel: str,
        direction: str,
        text: str,
        *,
        button_data: str | None = None,
        faq_entry_id: int | None = None,
    ) -> ConversationMessage:
        message = ConversationMessage(
            customer_id=customer_id,
            channel=channel,
            direction=direction,
            text=text,
            button_data=button_data,
            faq_entry_id=faq_entry_id,
        )
        self._session.add(message)
        await self._session.flush()
        return message

    async def get(self, message_id: int) -> ConversationMessage | None:
        return await self._session.get(ConversationMessage, message_id)

    async def history(self, customer_id: int, limit: int = 50) -> Sequence[ConversationMessage]:
        statement = (
            select(ConversationMessage)
            .where(ConversationMessage.customer_id == customer_id)
            .order_by(ConversationMessage.id.desc())
            .limit(limit)
        )
        rows = (await self._session.execute(statement)).scalars().all()
        return list(reversed(rows))
