"""Whether other instances run on this database right now, so that one alone skips the work
that only keeps several apart.

Each instance keeps a row in `leases` ("instance:" and a hash of its name), renewed every
`every` seconds and expiring after `ttl` (a killed one's runs out). An instance that sees no
other row handles its events as one process would: no chat's earlier events to look for, no
other instance's replies to wait behind (two round trips a batch on PostgreSQL). One that
starts beside others waits two beats before handling anything, so that each of them has seen
its row and switched to the careful path first. On SQLite there is one process per file: alone
always, no row.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.db import DB_ERRORS, one_statement
from storage.models import Lease, utcnow
from storage.recovery import periodic
from storage.repositories import leases

log = logging.getLogger(__name__)
PREFIX = "instance:"


def row_name(owner: str) -> str:
    return PREFIX + hashlib.blake2b(owner.encode(), digest_size=8).hexdigest()


class Peers:
    def __init__(
        self,
        pool: async_sessionmaker[AsyncSession],
        owner: str,
        ttl: float,
        *,
        every: float = 1.0,
        sole: bool = False,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._pool = pool
        self._owner = owner
        self._ttl = timedelta(seconds=max(ttl, 2 * every))
        self.every = every
        self._sole = sole
        self._clock = clock  # the real clock: rows expire in real time
        # Until the first beat says otherwise, assume company: the careful path is always right.
        self.alone = sole
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def beat(self) -> bool:
        """Renew this instance's row, then count the others' live rows (two statements: the
        row is committed before the count, so of two instances starting together the later
        to count sees the other). Returns `alone`."""
        if self._sole:
            return True
        now = self._clock()
        try:
            async with one_statement(self._pool) as session:
                await leases.hold(session, row_name(self._owner), self._owner, now, self._ttl)
            async with self._pool() as session:
                others = await session.scalar(
                    select(func.count())
                    .select_from(Lease)
                    .where(
                        Lease.name.startswith(PREFIX),
                        Lease.owner != self._owner,
                        Lease.expires_at > now,
                    )
                )
        except DB_ERRORS:
            self.alone = False  # unknown: the careful path
            return False
        alone = not others
        if alone != self.alone:
            log.info("%s on this database", "alone" if alone else f"{others} other instance(s)")
        self.alone = alone
        return alone

    async def join(self) -> None:
        """The first beat; beside others, wait until each has seen this one (two beats)."""
        if not await self.beat() and not self._sole:
            await asyncio.sleep(2 * self.every)

    def start(self) -> None:
        if self._sole:
            return
        self._stopping = asyncio.Event()
        self._task = asyncio.create_task(
            periodic(self.beat, lambda: self.every, "instance beat", log, stop=self._stopping)
        )

    async def stop(self) -> None:
        """Stop beating and remove the row: the others go back to the quick path at once."""
        self._stopping.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._sole:
            return
        try:
            async with self._pool() as session, session.begin():
                await leases.release(session, row_name(self._owner), self._owner)
        except DB_ERRORS:
            log.warning("instance row not removed at stop: it expires by itself")
