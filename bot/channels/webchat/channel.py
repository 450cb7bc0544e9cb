"""The webchat channel package as the application sees it (see the package's docstring)."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channels.base import CoreServices
from bot.channels.webchat.hub import WebChatHub, WebChatSender
from bot.channels.webchat.payloads import CHANNEL
from bot.channels.webchat.routes import routes
from bot.core.channel import Capabilities
from bot.core.delivery.outbox import ChannelSender
from bot.core.delivery.rate_limit import RateLimiter

CAPABILITIES = Capabilities(
    text_chars=4096, buttons_per_message=100, buttons_per_row=8, media=False, edits=False
)


class WebChatChannel:
    staff_sender: ChannelSender | None = None  # customers only
    name = CHANNEL
    capabilities = CAPABILITIES

    def __init__(self, hub: WebChatHub, session_pool: async_sessionmaker[AsyncSession]) -> None:
        self.hub = hub
        self.sender = WebChatSender(hub, session_pool)
        # A survey reaches a visitor with the page open at once, the others on their return.
        self.campaign_sender = self.sender
        self.limiter: RateLimiter | None = None  # our own server: nothing to pace

    def routes(self, core: CoreServices) -> list[web.RouteDef]:
        # They read what they need from the application's keys (`bot.web.keys`).
        return [route for route in routes if isinstance(route, web.RouteDef)]

    async def start(self) -> None:
        return None

    async def connect(self) -> None:
        return None  # the platform is configured to post to our route

    async def disconnect(self) -> None:
        return None

    async def stop(self) -> None:
        return None
