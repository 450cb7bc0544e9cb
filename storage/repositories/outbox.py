from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, func, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import OutboxMessage, utcnow
from storage.repositories import _leases as leases
from storage.repositories._leases import Lease, takeable
from storage.repositories._upsert import insert_many_ids

_OUTBOX = cast(Table, OutboxMessage.__table__)
# Every reply is marked sent (in batches): a Core statement built once.
_MARK_SENT = (
    update(_OUTBOX)
    .where(_OUTBOX.c.id.in_(bindparam("ids", expanding=True)))
    .values(status="sent", sent_at=bindparam("now"), attempts=_OUTBOX.c.attempts + 1)
)


_SET_EXTERNAL = (
    update(_OUTBOX)
    .where(_OUTBOX.c.id == bindparam("row"))
    .values(external_id=bindparam("external"), delivery_status="sent")
)


class OutboxRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add_many(
        self,
        rows: Sequence[tuple[str, str, str, int | None]],
        *,
        status: str = "pending",
        lease: Lease | None = None,
    ) -> list[int]:
        """Queue (channel, recipient, payload, event id) rows in one statement; returns their
        ids in the same order. `status` "handoff": for a running bot to claim and send.
        `lease`: held by the instance that queued them, which sends them after commit."""
        if not rows:
            return []
        now = utcnow()
        owner, until = lease if lease is not None else (None, None)
        return await insert_many_ids(
            self._session,
            _OUTBOX,
            [
                {
                    "channel": channel,
                    "recipient": recipient,
                    "payload": payload,
                    "status": status,
                    "attempts": 0,
                    "event_id": event_id,
                    "created_at": now,
                    "lease_owner": owner,
                    "lease_until": until,
                }
                for channel, recipient, payload, event_id in rows
            ],
        )

    async def claim_handoffs(self, channels: list[str], limit: int = 500) -> list[OutboxMessage]:
        """Rows another process handed over, claimed by this one: each row is claimed by one
        process only (the status changes under a condition), then sent like its own."""
        ids = (
            select(OutboxMessage.id)
            .where(OutboxMessage.status == "handoff", OutboxMessage.channel.in_(channels))
            .order_by(OutboxMessage.id)
            .limit(limit)
        )
        claimed = await self._session.execute(
            update(_OUTBOX)
            .where(_OUTBOX.c.id.in_(ids.scalar_subquery()), _OUTBOX.c.status == "handoff")
            .values(status="pending")
            .returning(_OUTBOX.c.id)
        )
        claimed_ids = sorted(int(i) for i in claimed.scalars())
        if not claimed_ids:
            return []
        rows = await self._session.execute(
            select(OutboxMessage)
            .where(OutboxMessage.id.in_(claimed_ids))
            .order_by(OutboxMessage.id)
        )
        return list(rows.scalars())

    async def claim_pending(
        self,
        created_before: datetime,
        channels: list[str],
        lease: Lease,
        now: datetime,
        limit: int = 500,
        after_id: int = 0,
        sole: bool = False,
    ) -> list[OutboxMessage]:
        """Claim pending rows old enough, whose back-off (if any) is over, after id
        `after_id`, that are free: never leased, leased by the claimer, or whose lease has
        expired (their instance died). Claimed means leased to the claimer, in one UPDATE
        over a SELECT ... FOR UPDATE SKIP LOCKED on PostgreSQL, so two instances recovering
        at once never take the same row. `sole`: the only instance there can be (SQLite's one
        process), which reads them, no claim needed. In id order."""
        page = (
            select(OutboxMessage.id)
            .where(
                OutboxMessage.id > after_id,
                OutboxMessage.status == "pending",
                OutboxMessage.channel.in_(channels),
                or_(OutboxMessage.retry_at.is_(None), OutboxMessage.retry_at <= now),
                takeable(
                    OutboxMessage, lease[0], now, OutboxMessage.created_at <= created_before, sole
                ),
            )
            .order_by(OutboxMessage.id)
            .limit(limit)
        )
        ids = await leases.claim(self._session, OutboxMessage, page, lease, sole)
        if not ids:
            return []
        rows = await self._session.execute(
            select(OutboxMessage)
            .where(OutboxMessage.id.in_(ids))
            .order_by(OutboxMessage.id)
            .execution_options(populate_existing=True)
        )
        return list(rows.scalars())

    async def held_elsewhere_until(self, owner: str, now: datetime) -> datetime | None:
        return await leases.held_elsewhere_until(self._session, OutboxMessage, owner, now)

    async def release(self, owner: str, now: datetime) -> None:
        await leases.release(self._session, OutboxMessage, owner, now)

    async def renew(self, lease: Lease) -> None:
        """Extend the lease of every pending row `lease`'s owner holds: it lives, so they
        stay its own however long they wait for their turn."""
        await leases.renew(self._session, OutboxMessage, lease)

    async def waiting(self, channels: list[str]) -> dict[tuple[str, str], int]:
        """Recipients with a pending row still in its back-off: (channel, recipient) -> the
        first such row's id. Their later rows wait too, so that posts keep their order."""
        statement = (
            select(OutboxMessage.channel, OutboxMessage.recipient, func.min(OutboxMessage.id))
            .where(
                OutboxMessage.status == "pending",
                OutboxMessage.retry_at > utcnow(),
                OutboxMessage.channel.in_(channels),
            )
            .group_by(OutboxMessage.channel, OutboxMessage.recipient)
        )
        rows = (await self._session.execute(statement)).all()
        return {(channel, recipient): int(first) for channel, recipient, first in rows}

    async def queued_before(
        self, recipients: Sequence[tuple[str, str]], before: int, owner: str
    ) -> dict[tuple[str, str], list[int]]:
        """Rows to these recipients queued before row `before` by another instance and not
        yet sent: (channel, recipient) -> their ids. Replies this instance is about to send
        wait for them, so that a chat's answers keep their order across instances."""
        if not recipients:
            return {}
        statement = select(OutboxMessage.channel, OutboxMessage.recipient, OutboxMessage.id).where(
            OutboxMessage.status == "pending",
            OutboxMessage.id < before,
            tuple_(OutboxMessage.channel, OutboxMessage.recipient).in_(list(set(recipients))),
            OutboxMessage.lease_owner.is_distinct_from(owner),
        )
        found: dict[tuple[str, str], list[int]] = {}
        for channel, recipient, row_id in (await self._session.execute(statement)).all():
            found.setdefault((channel, recipient), []).append(int(row_id))
        return found

    async def still_pending(self, ids: Sequence[int], now: datetime) -> tuple[set[int], bool]:
        """Those of these rows not sent yet, and whether an instance holds any of them under a
        live lease (one it keeps renewing while it runs)."""
        statement = select(OutboxMessage.id, OutboxMessage.lease_until).where(
            OutboxMessage.id.in_(list(ids)), OutboxMessage.status == "pending"
        )
        rows = (await self._session.execute(statement)).all()
        held = any(until is not None and until > now for _, until in rows)
        return {int(row_id) for row_id, _ in rows}, held

    async def mark_sent(self, ids: Sequence[int], external: dict[int, str] | None = None) -> None:
        """Sent; with `external`, each row's platform id too (one more statement, only when
        a channel reports them)."""
        if ids:
            await self._session.execute(_MARK_SENT, {"ids": list(ids), "now": utcnow()})
        if external:
            await self._session.execute(
                _SET_EXTERNAL, [{"row": i, "external": e} for i, e in external.items()]
            )

    async def mark(self, ids: Sequence[int], status: str, error: str | None = None) -> None:
        """A final status other than sent ("blocked", "failed"); the attempt counts."""
        if not ids:
            return
        values: dict[str, object] = {"status": status, "attempts": OutboxMessage.attempts + 1}
        if error is not None:
            values["error"] = error[:2000]
        await self._session.execute(
            update(OutboxMessage).where(OutboxMessage.id.in_(ids)).values(values)
        )

    async def count_attempt(
        self, message_id: int, error: str, *, give_up: bool, retry_at: datetime | None = None
    ) -> None:
        """A failed attempt: kept with its reason, then retried after `retry_at` (or given up)."""
        values: dict[str, object] = {
            "attempts": OutboxMessage.attempts + 1,
            "error": error[:2000],
            "retry_at": retry_at,
        }
        if give_up:
            values["status"] = "failed"
        await self._session.execute(
            update(OutboxMessage).where(OutboxMessage.id == message_id).values(values)
        )
