"""The email channel package as the application sees it (see the package's docstring)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channels.base import CoreServices
from bot.channels.email.config import EmailConfig
from bot.channels.email.dkim_signing import DkimSigner
from bot.channels.email.render import SurveyLinks
from bot.channels.email.sender import CHANNEL, EmailSender, SurveyLinksSource
from bot.channels.email.smtp import SmtpPool
from bot.config import LinksConfig
from bot.core.channel import Capabilities
from bot.core.delivery.outbox import ChannelSender
from bot.core.delivery.rate_limit import CAMPAIGN_SHARE, RateLimiter
from bot.links.signing_key import link_signer

CAPABILITIES = Capabilities(
    text_chars=100_000, buttons_per_message=20, buttons_per_row=11, media=False, edits=False
)


class EmailChannel:
    name = CHANNEL
    capabilities = CAPABILITIES
    staff_sender: ChannelSender | None = None  # customers only

    def __init__(
        self,
        config: EmailConfig,
        links: LinksConfig,
        public_url: str,
        pool: async_sessionmaker[AsyncSession],
        clock: Callable[[], datetime],
    ) -> None:
        self.config = config
        self._links_config = links
        self._public_url = public_url
        self._pool = pool
        self._clock = clock
        per_second = config.rate_per_minute / 60.0
        # Campaigns take four fifths of the provider's rate: replies keep room.
        self.limiter = RateLimiter(per_second * CAMPAIGN_SHARE, cap=per_second)
        self.smtp = SmtpPool(config.server(), config.connections, config.timeout_seconds)
        self.links = SurveyLinksSource()
        dkim = (
            DkimSigner(config.dkim_selector, config.dkim_domain, config.dkim_key_file)
            if config.dkim_key_file
            else None
        )
        self.sender = EmailSender(config, self.smtp, self.limiter, self.links, clock, dkim=dkim)
        self.campaign_sender: ChannelSender | None = EmailSender(
            config, self.smtp, self.limiter, self.links, clock, paced=False, dkim=dkim
        )

    def routes(self, core: CoreServices) -> list[web.RouteDef]:
        return []  # answers come back through the survey pages (bot.links)

    async def start(self) -> None:
        """The links' signing key is read (or made) now, after the migrations."""
        signer = await link_signer(self._pool, self._links_config)
        base, ttl = self._public_url, timedelta(days=self._links_config.ttl_days)

        def page(delivery_id: int) -> str:
            return f"{base}/s/{signer.sign('d', (delivery_id,), self._clock() + ttl)}"

        self.links.links = SurveyLinks(page=page, unsubscribe=lambda d: f"{page(d)}/unsubscribe")

    async def connect(self) -> None:
        return None

    async def disconnect(self) -> None:
        return None

    async def stop(self) -> None:
        self.limiter.close()
        await self.smtp.close()
