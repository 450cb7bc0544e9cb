"""The whatsapp channel package as the application sees it (see the package's docstring)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

import aiohttp
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channels.base import CoreServices
from bot.channels.whatsapp.api import WhatsAppApi
from bot.channels.whatsapp.config import WhatsAppConfig
from bot.channels.whatsapp.inbound import CHANNEL, receive, source, verify
from bot.channels.whatsapp.render import CAPABILITIES
from bot.channels.whatsapp.sender import RecentWrites, WhatsAppSender
from bot.core.delivery.outbox import ChannelSender
from bot.core.delivery.rate_limit import CAMPAIGN_SHARE, RateLimiter
from bot.core.delivery.shared_rate import SharedRates


class WhatsAppChannel:
    staff_sender: ChannelSender | None = None  # customers only
    name = CHANNEL
    capabilities = CAPABILITIES

    def __init__(
        self,
        config: WhatsAppConfig,
        pool: async_sessionmaker[AsyncSession],
        clock: Callable[[], datetime],
        shared_rates: SharedRates | None = None,
    ) -> None:
        self.config = config
        self._http: aiohttp.ClientSession | None = None
        self.api = WhatsAppApi(config, self._client)
        # Campaigns get four fifths of the platform's rate: replies and staff posts keep room
        # (as Telegram's 25 of 30), and arrival jitter never tips a second over the limit.
        campaigns = config.sends_per_second * CAMPAIGN_SHARE
        cap = config.sends_per_second
        # Several instances sending as this account: one rate between them (Redis).
        shared = (
            shared_rates("whatsapp", config.phone_number_id, cap, campaigns)
            if shared_rates
            else None
        )
        self.limiter = RateLimiter(campaigns, cap=cap, shared=shared)
        self.recent = RecentWrites()
        self.sender = WhatsAppSender(config, self.api, self.limiter, pool, clock, self.recent)
        self.campaign_sender = WhatsAppSender(
            config, self.api, self.limiter, pool, clock, self.recent, paced=False
        )
        self.background: set[asyncio.Task[None]] = set()

    def _client(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession()
        return self._http

    def routes(self, core: CoreServices) -> list[web.RouteDef]:
        core.inbound.register(source(self, core))

        async def on_get(request: web.Request) -> web.StreamResponse:
            return await verify(self, request)

        async def on_post(request: web.Request) -> web.StreamResponse:
            return await receive(self, core, request)

        return [web.get(self.config.path, on_get), web.post(self.config.path, on_post)]

    async def start(self) -> None:
        self._client()

    async def connect(self) -> None:
        return None  # the platform is configured to post to our route

    async def disconnect(self) -> None:
        return None

    async def stop(self) -> None:
        self.limiter.close()
        if self.background:
            await asyncio.gather(*self.background, return_exceptions=True)
        if self._http is not None:
            await self._http.close()
