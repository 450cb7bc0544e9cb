"""Polling mode that keeps the webhook's guarantee: an update is stored before its offset is
confirmed to Telegram, so a crash never skips one."""

from __future__ import annotations

import asyncio
import logging

from aiogram import Bot
from aiogram.exceptions import TelegramNetworkError, TelegramRetryAfter, TelegramServerError

from bot.channels.telegram.sender import CHANNEL
from bot.channels.telegram.webhook import ALLOWED_UPDATES
from bot.core import untrusted
from bot.core.delivery.inbound_queue import InboundQueue
from storage.db import DB_ERRORS

log = logging.getLogger(__name__)
_TRANSIENT: tuple[type[BaseException], ...] = (
    TelegramNetworkError,
    TelegramServerError,
    *DB_ERRORS,
)


class TelegramPoller:
    def __init__(self, bot: Bot, inbound: InboundQueue, *, timeout: int = 30) -> None:
        self._bot = bot
        self._inbound = inbound
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
            if await self._inbound.accept(CHANNEL, str(update.update_id), payload) is not None:
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
