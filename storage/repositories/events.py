from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, case, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from storage.models import InboundEvent, utcnow
from storage.repositories import _leases as leases
from storage.repositories._leases import Lease, takeable
from storage.repositories._upsert import upsert_insert

MAX_ATTEMPTS = 5
_EVENTS = cast(Table, InboundEvent.__table__)
# Runs for every batch of updates: a Core statement built once (the ORM's bulk update, built per
# call, cost more CPU than the database spent on it).
_MARK_DONE = (
    update(_EVENTS)
    .where(_EVENTS.c.id.in_(bindparam("ids", expanding=True)))
    .values(status="done", processed_at=bindparam("now"), attempts=_EVENTS.c.attempts + 1)
)


class InboundEventRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def store(
        self, source: str, external_id: str, payload: str, *, status: str = "pending"
    ) -> int | None:
        """Store an event once; a redelivery of the same (source, id) returns None. `status`
        "done" is for an event handled in the same transaction."""
        (event_id,) = await self.store_many(source, [(external_id, payload)], status=status)
        return event_id

    async def store_many(
        self,
        source: str,
        events: Sequence[tuple[str, str]],
        *,
        status: str = "pending",
        lease: Lease | None = None,
        chats: Sequence[str | None] | None = None,
    ) -> list[int | None]:
        """Store (external id, payload) events in one statement; for each, its new id, or None
        for a redelivery (of an earlier event, or of one earlier in the same list). `lease`:
        held by the instance that stored them, which handles them next; `chats`: each one's
        chat key, if its chat's order is kept."""
        now = utcnow()
        owner, until = lease if lease is not None and status == "pending" else (None, None)
        rows = [
            {
                "source": source,
                "external_id": external_id,
                "payload": payload,
                "status": status,
                "attempts": 0,
                "received_at": now,
                "processed_at": now if status == "done" else None,
                "lease_owner": owner,
                "lease_until": until,
                "chat_key": chat,
            }
            for (external_id, payload), chat in zip(
                events, chats if chats is not None else [None] * len(events), strict=True
            )
        ]
        table = InboundEvent.__table__
        statement = (
            upsert_insert(self._session, table)
            .on_conflict_do_nothing(index_elements=["source", "external_id"])
            .returning(table.c.id, table.c.external_id)
        )
        result = await self._session.execute(statement, rows)
        new = {external_id: int(event_id) for event_id, external_id in result.all()}
        return [new.pop(external_id, None) for external_id, _ in events]

    async def get(self, event_id: int) -> InboundEvent | None:
        return await self._session.get(InboundEvent, event_id)

    async def mark_done(self, event_ids: Sequence[int]) -> None:
        await self._session.execute(_MARK_DONE, {"ids": list(event_ids), "now": utcnow()})

    async def mark_failed(self, event_id: int, error: str, *, final: bool = False) -> None:
        """Record a failed attempt; after MAX_ATTEMPTS (or at once if final) it is not retried."""
        event = await self._session.get(InboundEvent, event_id)
        if event is None:
            return
        event.attempts += 1
        event.error = error[:2000]
        if final or event.attempts >= MAX_ATTEMPTS:
            event.status = "failed"

    async def claim_page(
        self,
        source: str,
        received_before: datetime,
        after_id: int,
        limit: int,
        lease: Lease,
        *,
        sole: bool = False,
    ) -> list[tuple[int, str]]:
        """(id, payload) of the pending events after `after_id` this instance may take (its
        own or nobody's received before `received_before`, a dead instance's any time),
        claimed for it, oldest first: one page for recovery."""
        now = utcnow()
        page = (
            select(InboundEvent.id)
            .where(
                InboundEvent.source == source,
                InboundEvent.status == "pending",
                InboundEvent.id > after_id,
                takeable(
                    InboundEvent, lease[0], now, InboundEvent.received_at <= received_before, sole
                ),
            )
            .order_by(InboundEvent.id)
            .limit(limit)
        )
        ids = await leases.claim(self._session, InboundEvent, page, lease, sole)
        if not ids:
            return []
        statement = (
            select(InboundEvent.id, InboundEvent.payload)
            .where(InboundEvent.id.in_(ids))
            .order_by(InboundEvent.id)
        )
        return [(int(i), str(p)) for i, p in (await self._session.execute(statement)).all()]

    async def release(self, owner: str, now: datetime) -> None:
        await leases.release(self._session, InboundEvent, owner, now)

    async def renew(self, lease: Lease) -> None:
        await leases.renew(self._session, InboundEvent, lease)

    async def held_elsewhere_until(self, owner: str, now: datetime) -> datetime | None:
        return await leases.held_elsewhere_until(self._session, InboundEvent, owner, now)

    async def still_pending(self, event_ids: Sequence[int]) -> set[int]:
        """Which of these are still pending: read in the handling transaction and locked
        until it commits (FOR UPDATE on PostgreSQL, in id order), so an event handled since
        recovery read it, or by another instance meanwhile, is left out: one handling waits
        for the other's commit and then sees it done."""
        if not event_ids:
            return set()
        statement = (
            select(InboundEvent.id)
            .where(InboundEvent.id.in_(list(event_ids)), InboundEvent.status == "pending")
            .order_by(InboundEvent.id)
            .with_for_update()
        )
        return {int(i) for i in (await self._session.execute(statement)).scalars()}

    async def pending_in_turn(
        self, event_ids: Sequence[int], chats: Sequence[str]
    ) -> list[tuple[int, str, str | None]]:
        """Of `event_ids`, those still pending, and with them the pending events of `chats`
        stored before the last of them that are not among them (another instance stored them
        and has not handled them yet, or died): (id, source, payload for those others only),
        in id order, each locked until this transaction ends, in id order (FOR UPDATE above
        the sort), so that two transactions wanting some of the same rows queue behind each
        other instead of waiting in a circle."""
        if not event_ids:
            return []
        mine = list(event_ids)
        wanted: ColumnElement[bool] = InboundEvent.id.in_(mine)
        if chats:
            wanted = or_(
                wanted, InboundEvent.chat_key.in_(list(chats)) & (InboundEvent.id < max(mine))
            )
        rows = await self._session.execute(
            select(
                InboundEvent.id,
                InboundEvent.source,
                case((InboundEvent.id.in_(mine), None), else_=InboundEvent.payload),
            )
            .where(InboundEvent.status == "pending", wanted)
            .order_by(InboundEvent.id)
            .with_for_update()
        )
        return [(int(i), str(s), None if p is None else str(p)) for i, s, p in rows.all()]
