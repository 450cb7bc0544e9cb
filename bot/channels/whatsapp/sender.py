"""Outbound for WhatsApp: inside the 24-hour window free-form messages with reply buttons or
lists, outside it the configured template (or a failure that staff are told about). The
message's wamid is kept on its outbox row, where delivery statuses arrive later."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channels.whatsapp import contacts
from bot.channels.whatsapp.api import WhatsAppApi
from bot.channels.whatsapp.config import WhatsAppConfig
from bot.channels.whatsapp.inbound import CHANNEL
from bot.channels.whatsapp.render import render
from bot.core import choices
from bot.core.delivery.outbox import NOT_REACHED, SendResult, SendStatus
from bot.core.delivery.rate_limit import RateLimiter
from bot.core.messages import Reply
from storage.db import short_statements

WINDOW = timedelta(hours=24)


class RecentWrites:
    """When this process last recorded that a user wrote: SQL says the same or later, so a
    time in the window here spares the read; anything else is asked of SQL."""

    def __init__(self, limit: int = 50_000) -> None:
        self._limit = limit
        self._at: dict[str, datetime] = {}

    def wrote(self, wa_id: str, at: datetime) -> None:
        if len(self._at) >= self._limit:
            self._at.clear()
        self._at[wa_id] = at

    def get(self, wa_id: str) -> datetime | None:
        return self._at.get(wa_id)


class WhatsAppSender:
    def __init__(
        self,
        config: WhatsAppConfig,
        api: WhatsAppApi,
        limiter: RateLimiter,
        pool: async_sessionmaker[AsyncSession],
        clock: Callable[[], datetime],
        recent: RecentWrites,
        *,
        paced: bool = True,
    ) -> None:
        self._config = config
        self._api = api
        self._limiter = limiter
        self._pool = pool
        self._clock = clock
        self._recent = recent
        # paced=False: the campaign sender took this send's turn on the same limiter already.
        self._paced = paced

    async def send(
        self,
        recipient: str,
        reply: Reply,
        *,
        sent_ids: list[int] | None = None,
        key: str | None = None,
    ) -> SendResult:
        now = self._clock()
        last = self._recent.get(recipient)
        if last is None or now - last >= WINDOW:
            with short_statements():
                async with self._pool() as session:
                    last = await contacts.last_wrote(session, recipient)
        window_open = last is not None and now - last < WINDOW
        if not window_open and not self._config.template:
            return SendResult(
                SendStatus.FAILED,
                f"{NOT_REACHED}more than 24 hours since they last wrote on WhatsApp, and no "
                "[channels.whatsapp] template is set for such messages",
            )
        rendered = render(
            reply,
            recipient,
            window_open=window_open,
            template=self._config.template,
            language=self._config.template_language,
        )
        wamids: list[str] = []
        for number, message in enumerate(rendered.messages):
            if self._paced or number > 0:
                await self._limiter.acquire_reply()
            result, wamid = await self._api.send(message)
            if result.status is not SendStatus.SENT:
                return result
            if wamid is not None:
                wamids.append(wamid)
        if rendered.choices:
            await choices.offer_after_sending(self._pool, CHANNEL, recipient, rendered.choices)
        # The wamid goes on the outbox row with its sent-mark; statuses find the row by it.
        return SendResult(SendStatus.SENT, external_id=wamids[-1] if wamids else None)
