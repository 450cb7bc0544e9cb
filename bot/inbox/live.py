"""Live updates for open inbox pages: one watcher per process polls SQL for new ticket
messages (a customer wrote, staff answered anywhere, a ticket opened or changed state) and
tells every open page which tickets changed. SQL, not memory, is the source: a ticket opened
through another instance shows up just the same."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.db import DB_ERRORS
from storage.models import TicketMessage, utcnow
from storage.repositories.staff_accounts import SessionRepository

log = logging.getLogger(__name__)
LOOKBACK = 200  # ids behind the newest seen that are read again, for late commits
SESSION_CHECK_SECONDS = 2.0  # how soon a socket of an ended session is closed


class InboxLive:
    def __init__(self, pool: async_sessionmaker[AsyncSession], interval: float = 0.25) -> None:
        self._pool = pool
        self._interval = interval
        self._sockets: set[web.WebSocketResponse] = set()
        # Each socket's web session id: a socket lives no longer than its session (sign-out,
        # expiry, the account disabled here or with `otklik staff disable` in another process).
        self._owners: dict[web.WebSocketResponse, str] = {}
        self._checked = 0.0
        self._task: asyncio.Task[None] | None = None
        self._last_id: int | None = None
        self._seen: set[int] = set()  # ids within the look-back already told

    async def serve(self, request: web.Request, session_id: str) -> web.WebSocketResponse:
        socket = web.WebSocketResponse(heartbeat=30, max_msg_size=1024)
        await socket.prepare(request)
        self._sockets.add(socket)
        self._owners[socket] = session_id
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._watch())
        try:
            async for _message in socket:  # the page sends nothing; this waits for close
                pass
        finally:
            self._sockets.discard(socket)
            self._owners.pop(socket, None)
        return socket

    async def _watch(self) -> None:
        while self._sockets:
            try:
                changed = await self._changes()
            except DB_ERRORS:
                changed = []
                log.warning("inbox live: database unavailable")
            if changed:
                await self._tell({"type": "tickets", "ids": changed})
            if time.monotonic() - self._checked >= SESSION_CHECK_SECONDS:
                self._checked = time.monotonic()
                with contextlib.suppress(*DB_ERRORS):
                    await self._close_ended()
            await asyncio.sleep(self._interval)
        self._last_id = None

    async def _changes(self) -> list[int]:
        async with self._pool() as session:
            if self._last_id is None:
                newest = await session.execute(select(func.max(TicketMessage.id)))
                self._last_id = int(newest.scalar() or 0)
                recent = await session.execute(
                    select(TicketMessage.id).where(TicketMessage.id > self._last_id - LOOKBACK)
                )
                self._seen = {int(i) for i in recent.scalars()}  # already there: not news
                return []
            # Ids are handed out before commit: a transaction that took id 10 can commit after
            # the one that took 11 was seen. Look a little behind the newest id seen, and skip
            # what was already told, so the late one is not lost.
            found = await session.execute(
                select(TicketMessage.id, TicketMessage.ticket_id)
                .where(TicketMessage.id > self._last_id - LOOKBACK)
                .order_by(TicketMessage.id)
                .limit(1000 + LOOKBACK)
            )
            rows = [(int(i), int(t)) for i, t in found.all() if int(i) not in self._seen]
        if not rows:
            return []
        self._last_id = max(self._last_id, rows[-1][0])
        floor = self._last_id - LOOKBACK
        self._seen = {i for i in self._seen if i > floor} | {i for i, _ in rows if i > floor}
        return sorted({ticket_id for _, ticket_id in rows})

    async def _close_ended(self) -> None:
        """Close the sockets whose session has ended or whose account is disabled."""
        owners = dict(self._owners)
        if not owners:
            return
        async with self._pool() as session:
            live = await SessionRepository(session).live(set(owners.values()), utcnow())
        for socket, session_id in owners.items():
            if session_id not in live:
                self._sockets.discard(socket)
                self._owners.pop(socket, None)
                with contextlib.suppress(Exception):
                    await socket.close(code=4401, message=b"signed out")

    async def _tell(self, frame: dict[str, Any]) -> None:
        for socket in list(self._sockets):
            try:
                await socket.send_json(frame)
            except (ConnectionError, RuntimeError):
                self._sockets.discard(socket)

    async def close(self) -> None:
        for socket in list(self._sockets):
            with contextlib.suppress(Exception):
                await socket.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
