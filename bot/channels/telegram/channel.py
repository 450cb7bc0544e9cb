"""The telegram channel package as the application sees it (see the package's docstring)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channels.base import CoreServices
from bot.channels.telegram.alerts import AdminAlert
from bot.channels.telegram.commands import publish_commands
from bot.channels.telegram.json_sender import TelegramJsonSender
from bot.channels.telegram.polling import TelegramPoller
from bot.channels.telegram.sender import CHANNEL, TelegramSender
from bot.channels.telegram.setup import create_bot, create_dispatcher
from bot.channels.telegram.staff_directory import StaffDirectory
from bot.channels.telegram.staff_sender import TelegramStaffSender
from bot.channels.telegram.updates import TelegramUpdates
from bot.channels.telegram.webhook import keep_registering, register_webhook, webhook_route
from bot.config import Settings
from bot.core.channel import Capabilities
from bot.core.conversation import Conversation
from bot.core.delivery.inbound_queue import InboundQueue
from bot.core.delivery.outbox import ChannelSender
from bot.core.delivery.rate_limit import RateLimiter
from bot.core.tickets.service import TicketService
from bot.status import StatusBoard

CAPABILITIES = Capabilities(
    text_chars=4096, buttons_per_message=100, buttons_per_row=8, media=True, edits=True
)
log = logging.getLogger(__name__)


class TelegramChannel:
    name = CHANNEL
    capabilities = CAPABILITIES
    limiter: RateLimiter | None = None  # the token's limiter, shared with campaigns

    def __init__(
        self,
        settings: Settings,
        pool: async_sessionmaker[AsyncSession],
        *,
        conversation: Conversation,
        tickets: TicketService,
        token_limiter: RateLimiter,
        status: StatusBoard,
        zone: ZoneInfo,
        now: Callable[[], datetime],
    ) -> None:
        self.config = config = settings.telegram
        self._status = status
        self.bot = bot = create_bot(config)
        plain = TelegramSender(bot, token_limiter)
        self.sender: ChannelSender = TelegramJsonSender(bot, plain)
        self.campaign_sender: ChannelSender | None = TelegramJsonSender(bot, plain, paced=False)
        self.staff_sender: ChannelSender | None = None
        staff: StaffDirectory | None = None
        if config.staff_chat_id:
            staff = StaffDirectory(bot, config.staff_chat_id, config.admin_ids)
            self.staff_sender = TelegramStaffSender(
                bot,
                plain,
                pool,
                config.staff_chat_id,
                recap=tickets.recap,
                status=status,
                alert=AdminAlert(pool, config.admin_ids, settings.bot.default_language),
            )
        dispatcher = create_dispatcher(
            conversation,
            tickets,
            staff,
            config.admin_ids,
            zone,
            now,
            settings.reports.churn_months,
        )
        self.updates = TelegramUpdates(dispatcher, bot, staff)
        self._background: list[asyncio.Task[None]] = []
        self._inbound: InboundQueue | None = None  # given with the routes

    def routes(self, core: CoreServices) -> list[web.RouteDef]:
        core.inbound.register(self.updates)
        self._inbound = core.inbound
        if self.config.mode == "webhook":
            return [webhook_route(self.config, core.inbound)]
        return []

    async def start(self) -> None:
        return None

    async def connect(self) -> None:
        """Register the webhook or start polling, once the HTTP port listens (so the first
        delivery finds us). If Telegram cannot be reached, everything else keeps serving while
        setWebhook is retried in the background."""
        config = self.config
        self._track(publish_commands(self.bot, config.staff_chat_id, config.admin_ids))
        if config.mode == "webhook":
            if not await register_webhook(self.bot, config, self._status):
                self._track(keep_registering(self.bot, config, self._status))
        else:
            assert self._inbound is not None, "routes() gives the channel its queue first"
            poller = TelegramPoller(self.bot, self._inbound, timeout=config.polling_timeout)
            self._track(poller.run())
            log.info("telegram polling started")

    def _track(self, work: Coroutine[Any, Any, None]) -> None:
        self._background.append(asyncio.create_task(work))

    async def disconnect(self) -> None:
        """Stop taking updates (the poller, the webhook's retries, the menus)."""
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        self._background.clear()

    async def stop(self) -> None:
        await self.bot.session.close()
