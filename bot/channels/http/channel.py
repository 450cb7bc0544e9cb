"""The http channel package as the application sees it (see the package's docstring)."""

from __future__ import annotations

import time
from collections.abc import Callable

import aiohttp
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channels.base import CoreServices
from bot.channels.http.config import HttpChannelConfig
from bot.channels.http.inbound import receive, source
from bot.channels.http.sender import HttpChannelSender
from bot.core.channel import Capabilities
from bot.core.delivery.outbox import ChannelSender
from bot.core.delivery.rate_limit import RateLimiter


class HttpChannel:
    staff_sender: ChannelSender | None = None  # customers only

    def __init__(
        self,
        name: str,
        config: HttpChannelConfig,
        max_message_chars: int,
        pool: async_sessionmaker[AsyncSession],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self.config = config
        self.max_message_chars = max_message_chars
        self.clock = clock
        self.capabilities = Capabilities(
            text_chars=config.text_chars,
            buttons_per_message=config.buttons_per_message,
            buttons_per_row=config.buttons_per_row,
            media=False,
        )
        self._http: aiohttp.ClientSession | None = None
        self.sender = HttpChannelSender(config, self.capabilities, self._client, name, pool, clock)
        self.campaign_sender = self.sender
        self.limiter: RateLimiter | None = None  # the platform's limits are its own to say (429)

    @property
    def path(self) -> str:
        return f"/api/v1/channels/{self.name}/messages"

    def _client(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession()
        return self._http

    def routes(self, core: CoreServices) -> list[web.RouteDef]:
        core.inbound.register(source(self, core.conversation))

        async def handler(request: web.Request) -> web.StreamResponse:
            return await receive(self, core, request)

        return [web.post(self.path, handler)]

    async def start(self) -> None:
        self._client()

    async def connect(self) -> None:
        return None  # the platform is configured to post to our route

    async def disconnect(self) -> None:
        return None

    async def stop(self) -> None:
        if self._http is not None:
            await self._http.close()
