from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import InboundEvent, utcnow
from storage.repositories._upsert import insert_ignore

MAX_ATTEMPTS = 5


class InboundEventRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def store(self, source: str, external_id: str, payload: str) -> int | None:
        """Store an event once; a redelivery of the same (source, id) returns None."""
        return await insert_ignore(
            self._session,
            InboundEvent.__table__,  # type: ignore[arg-type]
            {
                "source": source,
                "external_id": external_id,
                "payload": payload,
                "status": "pending",
                "attempts": 0,
                "received_at": utcnow(),
            },
            ["source", "external_id"],
        )

    async def get(self, event_id: int) -> InboundEvent | None:
        return await self._session.get(InboundEvent, event_id)

    async def mark_done(self, event_id: int) -> None:
        await self._session.execute(
            update(InboundEvent)
            .where(InboundEvent.id == event_id)
            .values(status="done", processed_at=utcnow(), attempts=InboundEvent.attempts + 1)
        )

    async def mark_failed(self, event_id: int, error: str, *, final: bool = False) -> None:
        """Record a failed attempt; after MAX_ATTEMPTS (or at once if final) it is not retried."""
        event = await self._session.get(InboundEvent, event_id)
        if event is None:
            return
        event.attempts += 1
        event.error = error[:2000]
        if final or event.attempts >= MAX_ATTEMPTS:
            event.status = "failed"

    async def pending(
        self, source: str, received_before: datetime, limit: int = 100
    ) -> Sequence[int]:
        statement = (
            select(InboundEvent.id)
            .where(
                InboundEvent.source == source,
                InboundEvent.status == "pending",
                InboundEvent.received_at <= received_before,
            )
            .order_by(InboundEvent.id)
            .limit(limit)
        )
        return (await self._session.execute(statement)).scalars().all()
