from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ConversationMessage, utcnow
from storage.repositories._upsert import insert_many_ids

_MESSAGES = cast(Table, ConversationMessage.__table__)


def message_row(
    customer_id: int,
    channel: str,
    direction: str,
    text: str,
    button_data: str | None = None,
    faq_entry_id: int | None = None,
) -> dict[str, Any]:
    return {
        "customer_id": customer_id,
        "channel": channel,
        "direction": direction,
        "text": text,
        "button_data": button_data,
        "faq_entry_id": faq_entry_id,
        "created_at": utcnow(),
    }


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
    ) -> int:
        """Append a message; returns its id."""
        row = message_row(customer_id, channel, direction, text, button_data, faq_entry_id)
        (message_id,) = await self.add_rows([row])
        return message_id

    async def add_rows(self, rows: list[dict[str, Any]]) -> list[int]:
        """Append `message_row`s in one statement; their ids, in order. This runs for every
        message, so it is a Core insert built once: the ORM's bulk path and a statement built
        per call cost more CPU than the rest of the message's handling."""
        return await insert_many_ids(self._session, _MESSAGES, rows)

    async def get(self, message_id: int) -> ConversationMessage | None:
        return await self._session.get(ConversationMessage, message_id)

    async def history(
        self, customer_id: int, limit: int = 50, after: int = 0
    ) -> Sequence[ConversationMessage]:
        """The latest `limit` messages after id `after`, oldest first."""
        statement = (
            select(ConversationMessage)
            .where(ConversationMessage.customer_id == customer_id, ConversationMessage.id > after)
            .order_by(ConversationMessage.id.desc())
            .limit(limit)
        )
        rows = (await self._session.execute(statement)).scalars().all()
        return list(reversed(rows))
