"""The channel packages this deployment runs, from its configuration. A new kind of channel is
one more package and one more line here; nothing in `bot/core` changes."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channels.base import ChannelPackage
from bot.channels.http import HttpChannel
from bot.channels.vk import VkChannel
from bot.channels.webchat import WebChatChannel
from bot.channels.webchat.hub import WebChatHub
from bot.channels.whatsapp import WhatsAppChannel
from bot.config import Settings


def build_channels(
    settings: Settings,
    pool: async_sessionmaker[AsyncSession],
    now: Callable[[], datetime],
    webchat_hub: WebChatHub,
    clock: Callable[[], float] = time.time,
) -> list[ChannelPackage]:
    """`now` is the conversation's clock (windows, due times); `clock` stamps signatures."""
    channels: list[ChannelPackage] = [WebChatChannel(webchat_hub, pool)]  # always on
    for name, config in sorted(settings.channels.http.items()):
        channels.append(HttpChannel(name, config, settings.bot.max_message_chars, pool, clock))
    if settings.channels.vk.enabled:
        channels.append(VkChannel(settings.channels.vk, pool))
    if settings.channels.whatsapp.enabled:
        channels.append(WhatsAppChannel(settings.channels.whatsapp, pool, now))
    return channels
