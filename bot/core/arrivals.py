"""Arrived events stored in batches: each webhook request waits on a future for its event's
id, and one statement stores everyone who arrived meanwhile (group commit)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.db import one_statement
from storage.repositories.events import InboundEventRepository

Waiter = asyncio.Future[int | None]  # the event's new id, None for a redelivery
BATCH = 256  # events stored in one statement at most


async def store_and_answer(
    pool: async_sessionmaker[AsyncSession],
    source: str,
    events: Sequence[tuple[str, str]],
    waiters: Sequence[Waiter],
) -> None:
    """Store (external id, payload) events in one statement and answer each one's waiter with
    its id; if the statement fails, every waiter gets the error (its request fails and the
    platform redelivers)."""
    try:
        async with one_statement(pool) as session:
            ids = await InboundEventRepository(session).store_many(source, events)
    except Exception as exc:
        for waiter in waiters:
            if not waiter.done():
                waiter.set_exception(exc)
        return
    for waiter, event_id in zip(waiters, ids, strict=True):
        if not waiter.done():
            waiter.set_result(event_id)
