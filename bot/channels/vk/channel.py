"""The vk channel package as the application sees it (see the package's docstring)."""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channels.base import CoreServices
from bot.channels.vk.api import VkApi
from bot.channels.vk.config import VkConfig
from bot.channels.vk.events import CHANNEL
from bot.channels.vk.inbound import receive, source
from bot.channels.vk.sender import CAPABILITIES, VkSender
from bot.core.delivery.outbox import ChannelSender
from bot.core.delivery.rate_limit import CAMPAIGN_SHARE, RateLimiter
from bot.core.delivery.shared_rate import SharedRates


class VkChannel:
    staff_sender: ChannelSender | None = None  # customers only
    name = CHANNEL
    capabilities = CAPABILITIES

    def __init__(
        self,
        config: VkConfig,
        pool: async_sessionmaker[AsyncSession],
        shared_rates: SharedRates | None = None,
    ) -> None:
        self.config = config
        self._http: aiohttp.ClientSession | None = None
        self.api = VkApi(config, self._client)
        # Campaigns get four fifths of the platform's rate: replies and staff posts keep room
        # (as Telegram's 25 of 30), and arrival jitter never tips a second over the limit.
        campaigns = config.sends_per_second * CAMPAIGN_SHARE
        cap = config.sends_per_second
        # Several instances sending as this account: one rate between them (Redis).
        shared = shared_rates("vk", str(config.group_id), cap, campaigns) if shared_rates else None
        self.limiter = RateLimiter(campaigns, cap=cap, shared=shared)
        self.sender = VkSender(self.api, self.limiter, pool)
        self.campaign_sender = VkSender(self.api, self.limiter, pool, paced=False)
        self.background: set[asyncio.Task[None]] = set()

    def _client(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession()
        return self._http

    def routes(self, core: CoreServices) -> list[web.RouteDef]:
        core.inbound.register(source(self, core.conversation))

        async def handler(request: web.Request) -> web.StreamResponse:
            return await receive(self, core, request)

        return [web.post(self.config.path, handler)]

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
