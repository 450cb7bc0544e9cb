"""Arrived events stored in batches: each webhook request waits on a future for its event's
id, and one statement stores everyone who arrived meanwhile (group commit). And the way back
for events a crash or an outage left pending: read a page at a time and handled by the same
batched path as new ones."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.db import one_statement
from storage.models import utcnow
from storage.repositories._leases import Lease
from storage.repositories.events import InboundEventRepository

Waiter = asyncio.Future[int | None]  # the event's new id, None for a redelivery
BATCH = 256  # events stored in one statement at most
# Pending events recovery reads at a time. A page is handled before the next is read, so a
# long backlog neither sits in memory nor fills the backlog new arrivals are measured against
# (Telegram's max_backlog, 512 by default).
RECOVERY_PAGE = 256


async def store_and_answer(
    pool: async_sessionmaker[AsyncSession],
    source: str,
    events: Sequence[tuple[str, str]],
    waiters: Sequence[Waiter],
    lease: Lease | None = None,
    chats: Sequence[str | None] | None = None,
) -> None:
    """Store (external id, payload) events in one statement and answer each one's waiter with
    its id; if the statement fails, every waiter gets the error (its request fails and the
    platform redelivers)."""
    try:
        async with one_statement(pool) as session:
            ids = await InboundEventRepository(session).store_many(
                source, events, lease=lease, chats=chats
            )
    except Exception as exc:
        for waiter in waiters:
            if not waiter.done():
                waiter.set_exception(exc)
        return
    for waiter, event_id in zip(waiters, ids, strict=True):
        if not waiter.done():
            waiter.set_result(event_id)


async def recover_pending(
    pool: async_sessionmaker[AsyncSession],
    source: str,
    min_age: float,
    schedule: Callable[[int, dict[str, Any]], bool],
    in_flight: AbstractSet[int],
    lease: Callable[[], Lease],
    *,
    page: int = RECOVERY_PAGE,
    stopping: asyncio.Event | None = None,
    sole: bool = False,
) -> int:
    """Schedule every pending event of `source` older than `min_age` seconds (and a dead
    instance's, whatever their age), claimed under `lease()`, at once and at the handling
    rate: page by page, each page waiting for the previous one to be handled.
    `schedule(id, payload)` says whether it took the event (False: already in hand). Returns
    how many were scheduled; ends early, between pages, once `stopping` is set."""
    cutoff = utcnow() - timedelta(seconds=min_age)
    after = 0
    count = 0
    while stopping is None or not stopping.is_set():
        async with pool() as session, session.begin():
            rows = await InboundEventRepository(session).claim_page(
                source, cutoff, after, page, lease(), sole=sole
            )
        taken: set[int] = set()
        for event_id, payload in rows:
            after = event_id
            if schedule(event_id, json.loads(payload)):
                taken.add(event_id)
        count += len(taken)
        if len(rows) < page:
            break
        # Polled: the handlers shrink `in_flight` as they finish, and this runs only while a
        # backlog is being recovered.
        while taken & in_flight:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
    return count
