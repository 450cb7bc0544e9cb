"""Polling mode that keeps the webhook's guarantee: an update is stored before its offset is
confirmed to Telegram, so a crash never skips one."""

from __future__ import annotations

import asyncio
import logging

from aiogram import Bot
from aiogram.exceptions import TelegramNetworkError, TelegramRetryAfter, TelegramServerError

from bot.channels.telegram.inbox import HANDLED_KINDS, TelegramInbox
from bot.core import untrusted
from storage.db import DB_ERRORS

log = logging.getLogger(__name__)
ALLOWED_UPDATES = list(HANDLED_KINDS)
_TRANSIENT: tuple[type[BaseException], ...] = (
    TelegramNetworkError,
    TelegramServerError,
    *DB_ERRORS,
)


class TelegramPoller:
    def __init__(self, bot: Bot, inbox: TelegramInbox, *, timeout: int = 30) -> None:
        self._bot = bot
        self._inbox = inbox
        self._timeout = timeout
        self._offset: int | None = None

    async def poll_once(self) -> int:
        """One getUpdates round; returns how many new updates were stored."""
        updates = await self._bot.get_updates(
            offset=self._offset, timeout=self._timeout, allowed_updates=ALLOWED_UPDATES
        )
        stored = 0
        for update in updates:
            payload = untrusted.scrub(
                update.model_dump(mode="json", exclude_none=True, by_alias=True)
            )
            event_id = await self._inbox.accept(payload)
            if event_id is not None:
                self._inbox.schedule(event_id, payload)
                stored += 1
            # Only now may Telegram forget it: the next call confirms this offset.
            self._offset = update.update_id + 1
        return stored

    async def run(self) -> None:
        await self._bot.delete_webhook(drop_pending_updates=False)
        backoff = 1.0
        while True:
            try:
                await self.poll_once()
                backoff = 1.0
            except TelegramRetryAfter as exc:
                await asyncio.sleep(exc.retry_after)
            except _TRANSIENT as exc:
                log.warning("polling paused for %.0fs: %s", backoff, type(exc).__name__)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 60.0)
