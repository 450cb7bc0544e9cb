"""The web chat's transcript: what each visitor's widget shows, and what it has shown."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Delivery, OutboxMessage, WebChatMessage, utcnow

HISTORY_LIMIT = 100  # messages a widget restores at most (the latest ones)
DELIVERY_REF = "delivery:"


@dataclass(frozen=True)
class TranscriptLine:
    id: int
    direction: str
    body: dict[str, Any]
    shown: bool  # shown by the widget before this read
    created_at: datetime


class WebChatTranscript:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(
        self,
        visitor: str,
        direction: str,
        body: dict[str, Any],
        *,
        ref: str | None = None,
        shown: bool = True,
    ) -> int:
        """Append one line; its id (the widget's cursor). A line with the same `ref` is not
        added twice (a send repeated after a crash): its id is returned instead."""
        if ref is not None:
            known = await self._session.scalar(
                select(WebChatMessage.id).where(
                    WebChatMessage.session == visitor, WebChatMessage.ref == ref
                )
            )
            if known is not None:
                return int(known)
        now = utcnow()
        line = WebChatMessage(
            session=visitor,
            direction=direction,
            body=json.dumps(body, ensure_ascii=False),
            ref=ref,
            created_at=now,
            shown_at=now if shown else None,
        )
        self._session.add(line)
        await self._session.flush()
        return int(line.id)

    async def body_of(self, visitor: str, line: int) -> dict[str, Any] | None:
        """One line's body, if it is this visitor's."""
        found = await self._session.scalar(
            select(WebChatMessage.body).where(
                WebChatMessage.id == line, WebChatMessage.session == visitor
            )
        )
        return None if found is None else dict(json.loads(found))

    async def lines(
        self, visitor: str, after: int = 0, limit: int = HISTORY_LIMIT
    ) -> list[TranscriptLine]:
        """The latest `limit` lines after id `after`, and any not shown yet, oldest first. The
        unshown ones count because on PostgreSQL ids are taken at INSERT, not at commit: a line
        committed late can carry an id below the widget's cursor."""
        statement = (
            select(WebChatMessage)
            .where(
                WebChatMessage.session == visitor,
                or_(WebChatMessage.id > after, WebChatMessage.shown_at.is_(None)),
            )
            .order_by(WebChatMessage.id.desc())
            .limit(limit)
        )
        rows = (await self._session.execute(statement)).scalars().all()
        return [
            TranscriptLine(
                row.id,
                row.direction,
                json.loads(row.body),
                row.shown_at is not None,
                row.created_at,
            )
            for row in reversed(rows)
        ]

    async def mark_shown(self, visitor: str, upto: int, now: datetime | None = None) -> int:
        """The widget showed every line up to id `upto`: they are delivered. A survey held for
        the visitor now counts as sent, and a staff reply's outbox row as read. Returns how many
        lines were newly shown."""
        now = now or utcnow()
        unshown = (
            await self._session.execute(
                select(WebChatMessage.id, WebChatMessage.ref).where(
                    WebChatMessage.session == visitor,
                    WebChatMessage.id <= upto,
                    WebChatMessage.shown_at.is_(None),
                )
            )
        ).all()
        if not unshown:
            return 0
        ids = [int(i) for i, _ in unshown]
        await self._session.execute(
            update(WebChatMessage).where(WebChatMessage.id.in_(ids)).values(shown_at=now)
        )
        deliveries = [
            int(ref.removeprefix(DELIVERY_REF))
            for _, ref in unshown
            if ref and ref.startswith(DELIVERY_REF) and ref[len(DELIVERY_REF) :].isdigit()
        ]
        if deliveries:
            await self._session.execute(
                update(Delivery)
                .where(Delivery.id.in_(deliveries), Delivery.status == "held")
                .values(status="sent")
            )
        await self._session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.channel == "webchat",
                OutboxMessage.external_id.in_([str(i) for i in ids]),
            )
            .values(delivery_status="read")
        )
        return len(ids)
