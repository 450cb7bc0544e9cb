"""Named leases: one statement takes a lease that is free or expired, or renews one already
held, and says whether the caller holds it; nobody can take a live lease from its owner."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, delete, or_
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Lease
from storage.repositories._upsert import upsert_insert


async def hold(session: AsyncSession, name: str, owner: str, now: datetime, ttl: timedelta) -> bool:
    """Take or renew `name` for `owner` until now + ttl; True when `owner` holds it after.
    INSERT ... ON CONFLICT DO UPDATE ... WHERE: the row is changed only when it is ours or has
    expired, atomically on both databases (a row lock on PostgreSQL, the one writer on SQLite),
    so two instances asking at once cannot both get it."""
    table: Any = Lease.__table__
    insert = upsert_insert(session, table)
    mine = table.c.owner == insert.excluded.owner
    statement = (
        insert.values(name=name, owner=owner, expires_at=now + ttl, since=now)
        .on_conflict_do_update(
            index_elements=[table.c.name],
            set_={
                "owner": insert.excluded.owner,
                "expires_at": insert.excluded.expires_at,
                # Renewing keeps the moment this owner took it.
                "since": case((mine, table.c.since), else_=insert.excluded.since),
            },
            where=or_(table.c.owner == owner, table.c.expires_at < now),
        )
        .returning(table.c.owner)
    )
    row = (await session.execute(statement)).first()
    return row is not None and row[0] == owner


async def release(session: AsyncSession, name: str, owner: str) -> None:
    """Give `name` up at once (a clean stop), if `owner` holds it."""
    await session.execute(delete(Lease).where(Lease.name == name, Lease.owner == owner))


async def holder(session: AsyncSession, name: str) -> Lease | None:
    return await session.get(Lease, name)
