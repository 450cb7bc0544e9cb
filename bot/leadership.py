"""One leader among the instances on one database: it runs the scheduled jobs (SLA watch,
campaign launches, the monthly report, retention) and sends the campaigns, so each runs once
however many instances serve the webhooks.

The leader holds the `leader` lease (storage/repositories/leases.py) and renews it every third
of its time to live; an instance that stops renewing (killed, cut off from the database) loses
it when it expires, and the next instance to ask takes it: a new leader within the time to
live plus one renewal interval. A leader that finds it lost the lease steps down before doing
more. Every job is also idempotent for its period, for the seconds two might overlap."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.core.instance import this_instance
from storage.db import DB_ERRORS
from storage.models import utcnow
from storage.repositories import leases

log = logging.getLogger(__name__)
LEASE = "leader"


class Leadership:
    def __init__(
        self,
        pool: async_sessionmaker[AsyncSession],
        ttl: float,
        on_gain: Callable[[], Awaitable[None]],
        on_loss: Callable[[], Awaitable[None]],
        *,
        owner: str | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._pool = pool
        self._ttl = timedelta(seconds=ttl)
        self._on_gain = on_gain
        self._on_loss = on_loss
        self.owner = owner or this_instance()
        self._clock = clock  # the real clock: a lease expires in real time
        self.leading = False
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    @property
    def renew_every(self) -> float:
        return self._ttl.total_seconds() / 3

    async def step(self) -> bool:
        """Ask for (or renew) the lease once; start or stop leading as the answer says."""
        try:
            async with self._pool() as session, session.begin():
                held = await leases.hold(session, LEASE, self.owner, self._clock(), self._ttl)
        except DB_ERRORS:
            # Not renewed: after the time to live another instance may lead, so stop first.
            log.warning("leader lease: database unavailable; not leading until it answers")
            held = False
        if held and not self.leading:
            self.leading = True
            log.info("leading: %s runs the scheduled jobs and sends campaigns", self.owner)
            await self._on_gain()
        elif not held and self.leading:
            self.leading = False
            log.warning("no longer leading: %s lost the leader lease", self.owner)
            await self._on_loss()
        return held

    async def _run(self) -> None:
        while not self._stopping.is_set():
            await self.step()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.renew_every)

    def start(self) -> None:
        self._stopping = asyncio.Event()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stop asking; if leading, step down and free the lease, so another instance takes
        over at its next renewal instead of after the time to live."""
        self._stopping.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self.leading:
            self.leading = False
            await self._on_loss()
            try:
                async with self._pool() as session, session.begin():
                    await leases.release(session, LEASE, self.owner)
            except DB_ERRORS:
                log.warning("leader lease not released: it expires by itself")
