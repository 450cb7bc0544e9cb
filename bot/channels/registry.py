"""The channel packages this deployment runs, from its configuration. A new kind of channel is
one more package and one more line here; nothing in `bot/core` changes."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channels.base import ChannelPackage
from bot.channels.email.channel import EmailChannel
from bot.channels.http.channel import HttpChannel
from bot.channels.telegram.channel import TelegramChannel
from bot.channels.vk.channel import VkChannel
from bot.channels.webchat.channel import WebChatChannel
from bot.channels.webchat.hub import WebChatHub
from bot.channels.whatsapp.channel import WhatsAppChannel
from bot.config import Settings
from bot.core.conversation import Conversation
from bot.core.delivery.rate_limit import RateLimiter
from bot.core.delivery.shared_rate import SharedRates
from bot.core.tickets.service import TicketService
from bot.status import StatusBoard


@dataclass(frozen=True)
class ChannelNeeds:
    """What channel packages are built from, beyond settings and the database."""

    conversation: Conversation
    tickets: TicketService
    webchat_hub: WebChatHub
    token_limiter: RateLimiter  # the Telegram token's, shared with campaigns
    status: StatusBoard
    zone: ZoneInfo
    shared_rates: SharedRates | None = None  # several instances: per account, from Redis


def build_channels(
    settings: Settings,
    pool: async_sessionmaker[AsyncSession],
    now: Callable[[], datetime],
    needs: ChannelNeeds,
    clock: Callable[[], float] = time.time,
) -> list[ChannelPackage]:
    """`now` is the conversation's clock (windows, due times); `clock` stamps signatures."""
    channels: list[ChannelPackage] = [WebChatChannel(needs.webchat_hub, pool)]  # always on
    if settings.telegram.enabled:
        channels.append(
            TelegramChannel(
                settings,
                pool,
                conversation=needs.conversation,
                tickets=needs.tickets,
                token_limiter=needs.token_limiter,
                status=needs.status,
                zone=needs.zone,
                now=now,
            )
        )
    for name, config in sorted(settings.channels.http.items()):
        channels.append(HttpChannel(name, config, settings.bot.max_message_chars, pool, clock))
    if settings.channels.vk.enabled:
        channels.append(VkChannel(settings.channels.vk, pool, needs.shared_rates))
    if settings.email.enabled:
        public = settings.links.public_url(settings.http)
        channels.append(
            EmailChannel(
                settings.email,
                settings.links,
                public,
                pool,
                now,
                needs.status,
                read_mail=settings.scheduler.enabled,  # read by the leader only
            )
        )
    if settings.channels.whatsapp.enabled:
        channels.append(WhatsAppChannel(settings.channels.whatsapp, pool, now, needs.shared_rates))
    return channels
