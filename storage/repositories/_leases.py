"""Leased rows, the pattern of the PostgreSQL job queues (River, Oban, procrastinate): a row
of work (an outbox reply, an inbound event) carries the instance working on it and until when.
Its instance renews the lease while it lives; another takes the row only once the lease has
run out, claiming it with UPDATE over SELECT ... FOR UPDATE SKIP LOCKED so that two instances
never take the same row."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, func, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

Lease = tuple[str, datetime]  # (owner, until)


def takeable(
    model: Any, owner: str, now: datetime, old_enough: ColumnElement[bool], sole: bool
) -> ColumnElement[bool]:
    """Rows `owner` may take: its own (or nobody's) once `old_enough` (its own task has had
    its turn), and another instance's whose lease has run out (that instance died), whatever
    their age. `sole`: the only instance there can be (SQLite's one process), to whom any
    other owner is a dead one."""
    ours = or_(model.lease_owner.is_(None), model.lease_owner == owner)
    return or_(
        and_(ours, old_enough),
        and_(~ours, true() if sole else model.lease_until < now),
    )


async def claim(
    session: AsyncSession, model: Any, page: Select[Any], lease: Lease, sole: bool
) -> list[int]:
    """Take the rows `page` (a SELECT of ids) finds: leased to `lease`'s owner in one UPDATE
    whose ids are selected FOR UPDATE SKIP LOCKED (rows another instance is claiming right now
    are passed over); `sole` reads them, there being nobody to claim from. Sorted ids."""
    if sole:
        return sorted(int(i) for i in (await session.execute(page)).scalars())
    owner, until = lease
    table = model.__table__
    claimed = await session.execute(
        update(table)
        .where(table.c.id.in_(page.with_for_update(skip_locked=True).scalar_subquery()))
        .values(lease_owner=owner, lease_until=until)
        .returning(table.c.id)
    )
    return sorted(int(i) for i in claimed.scalars())


async def renew(session: AsyncSession, model: Any, lease: Lease) -> None:
    """Extend `lease`'s owner's hold on every pending row it has: it lives. Rows locked right
    now (being handled or marked, by their owner) are passed over, not waited for: they are
    about to be done, and waiting would make the renewal a party to lock queues."""
    owner, until = lease
    table = model.__table__
    mine = (
        select(table.c.id)
        .where(table.c.lease_owner == owner, table.c.status == "pending")
        .with_for_update(skip_locked=True)
    )
    await session.execute(
        update(table).where(table.c.id.in_(mine.scalar_subquery())).values(lease_until=until)
    )


async def release(session: AsyncSession, model: Any, owner: str, now: datetime) -> None:
    """A clean stop: `owner`'s pending rows are anybody's from now (their lease ends now), so
    another instance, or the next process, takes them at its next look, not after the lease."""
    table = model.__table__
    await session.execute(
        update(table)
        .where(table.c.lease_owner == owner, table.c.status == "pending")
        .values(lease_until=now)
    )


async def held_elsewhere_until(
    session: AsyncSession, model: Any, owner: str, now: datetime
) -> datetime | None:
    """When the first pending row another live instance holds comes free, if any."""
    found = await session.execute(
        select(func.min(model.lease_until)).where(
            model.status == "pending", model.lease_owner != owner, model.lease_until >= now
        )
    )
    return found.scalar()
