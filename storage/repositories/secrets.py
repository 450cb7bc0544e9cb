"""Secrets the instances share (`app_secrets`): made once, by whichever instance asks first."""

from __future__ import annotations

import secrets

from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import AppSecret, utcnow
from storage.repositories._upsert import upsert_insert


async def shared_secret(session: AsyncSession, name: str) -> str:
    """The secret called `name`, made now if no instance has made it: two instances asking at
    once both get the one that was stored first."""
    made = secrets.token_urlsafe(32)
    statement = (
        upsert_insert(session, AppSecret)
        .values(name=name, value=made, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["name"])
    )
    await session.execute(statement)
    row = await session.get(AppSecret, name, populate_existing=True)
    assert row is not None
    return row.value
