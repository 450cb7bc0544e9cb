"""The email channel package as the application sees it (see the package's docstring)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channels.base import CoreServices
from bot.channels.email import inbound
from bot.channels.email.config import EmailConfig
from bot.channels.email.dkim_signing import DkimSigner
from bot.channels.email.imap import ImapReader
from bot.channels.email.render import SurveyLinks
from bot.channels.email.sender import CHANNEL, EmailSender, SurveyLinksSource
from bot.channels.email.smtp import SmtpPool
from bot.config import LinksConfig
from bot.core.channel import Capabilities
from bot.core.delivery.outbox import ChannelSender
from bot.core.delivery.rate_limit import CAMPAIGN_SHARE, RateLimiter
from bot.links.signing_key import link_signer
from bot.status import StatusBoard

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
        status: StatusBoard,
        *,
        read_mail: bool = True,
    ) -> None:
        self.config = config
        self._status = status
        self._read_mail = read_mail
        self.reader: ImapReader | None = None
        self._reading: asyncio.Task[None] | None = None
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
        self.sender = EmailSender(
            config, self.smtp, self.limiter, self.links, clock, pool, dkim=dkim
        )
        self.campaign_sender: ChannelSender | None = EmailSender(
            config, self.smtp, self.limiter, self.links, clock, pool, paced=False, dkim=dkim
        )

    def routes(self, core: CoreServices) -> list[web.RouteDef]:
        """Mail to support as tickets (survey answers come back through bot.links' pages): by
        IMAP when `imap_url` is set, by the signed raw-MIME route when `inbound_secret` is."""
        core.inbound.register(
            inbound.source(core.conversation, lambda: self.links.signer, self._clock)
        )
        deliver = inbound.door(
            self._pool, core.inbound.accept, self.config.attachment_max_kb * 1024
        )
        if self.config.imap_url:
            self.reader = ImapReader(self.config, self._pool, deliver, self._status)
        if not self.config.inbound_secret:
            return []
        return [
            inbound.route(
                self.config.inbound_path,
                self.config.inbound_secret,
                deliver,
                time.time,
                self.config.inbound_max_kb * 1024,
            )
        ]

    async def start(self) -> None:
        """The links' signing key is read (or made) now, after the migrations."""
        signer = await link_signer(self._pool, self._links_config)
        self.links.signer = signer
        base, ttl = self._public_url, timedelta(days=self._links_config.ttl_days)

        def page(delivery_id: int) -> str:
            return f"{base}/s/{signer.sign('d', (delivery_id,), self._clock() + ttl)}"

        self.links.links = SurveyLinks(page=page, unsubscribe=lambda d: f"{page(d)}/unsubscribe")

    async def connect(self) -> None:
        return None  # the mailbox is read by the leader only (lead, step_down)

    async def lead(self) -> None:
        """The mailbox is read by one instance: the leader (with [scheduler] enabled)."""
        if self.reader is not None and self._read_mail and self._reading is None:
            self._reading = asyncio.create_task(self.reader.run())

    async def step_down(self) -> None:
        if self._reading is not None:
            self._reading.cancel()
            await asyncio.gather(self._reading, return_exceptions=True)
            self._reading = None

    async def disconnect(self) -> None:
        await self.step_down()

    async def stop(self) -> None:
        self.limiter.close()
        await self.smtp.close()
