from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import HandoffRequest


class HandoffRepository:
    """Messages customers left for a person, waiting for the human inbox."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(
        self, customer_id: int, channel: str, text: str, expected_reply_by: datetime | None
    ) -> HandoffRequest:
        request = HandoffRequest(
            customer_id=customer_id,
            channel=channel,
            text=text,
            expected_reply_by=expected_reply_by,
        )
        self._session.add(request)
        await self._session.flush()
        return request

    async def for_customer(self, customer_id: int) -> Sequence[HandoffRequest]:
        statement = (
            select(HandoffRequest)
            .where(HandoffRequest.customer_id == customer_id)
            .order_by(HandoffRequest.id)
        )
        return (await self._session.execute(statement)).scalars().all()
