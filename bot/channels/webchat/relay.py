"""Web chat pushes across instances: the instance that stores a reply for a visitor announces
it (PostgreSQL NOTIFY, naming the visitor and the line); every instance hears it, and the one
holding that visitor's socket reads the line from SQL and pushes it. A visitor whose socket
is on another instance than the one handling the staff reply sees it at once all the same."""

from __future__ import annotations

import json
import logging

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.channels.webchat.hub import WebChatHub, reply_frame
from storage.db import DB_ERRORS
from storage.notify import Listener, channel_name, notify
from storage.repositories.webchat import WebChatTranscript

log = logging.getLogger(__name__)


class NotifyRelay:
    def __init__(
        self,
        hub: WebChatHub,
        pool: async_sessionmaker[AsyncSession],
        engine: AsyncEngine,
        url: str,
        schema: str = "",
    ) -> None:
        self._hub = hub
        self._pool = pool
        self._engine = engine
        self._channel = channel_name("webchat", schema)
        self.listener = Listener(url, self._channel, self._heard)

    async def announce(self, session: str, line: int) -> None:
        await notify(self._engine, self._channel, json.dumps({"s": session, "l": line}))

    async def _heard(self, payload: str) -> None:
        try:
            notice = json.loads(payload)
            session, line = str(notice["s"]), int(notice["l"])
        except (ValueError, KeyError, TypeError):
            log.warning("web chat notice not understood: %.100s", payload)
            return
        if not self._hub.holds(session):
            return  # the visitor's socket is on another instance (or closed)
        try:
            async with self._pool() as db:
                body = await WebChatTranscript(db).body_of(session, line)
        except DB_ERRORS:
            log.warning("web chat line %s not read for its push; the widget restores it", line)
            return
        if body is not None:
            await self._hub.push(session, reply_frame(line, body))

    def start(self) -> None:
        self.listener.start()

    async def stop(self) -> None:
        await self.listener.stop()
