"""Typed keys for what the aiohttp application carries; handlers read these, not globals."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.core.conversation import Conversation
from bot.core.delivery.outbox import Outbox
from bot.core.hours import WorkingHours
from bot.core.live_hours import LiveHours
from bot.core.tickets.service import TicketService
from bot.metrics import Metrics
from bot.status import StatusBoard
from bot.web.flood import RequestLimiter, WebChatGuard

if TYPE_CHECKING:  # the channel packages' routes read these keys: no import back at run time
    from bot.channels.webchat.hub import WebChatHub
    from bot.inbox.live import InboxLive

SETTINGS = web.AppKey("settings", Settings)
ENGINE = web.AppKey("engine", AsyncEngine)
SESSION_POOL = web.AppKey("session_pool", async_sessionmaker[AsyncSession])
CONVERSATION = web.AppKey("conversation", Conversation)
METRICS = web.AppKey("metrics", Metrics)
OUTBOX = web.AppKey("outbox", Outbox)
TICKETS = web.AppKey("tickets", TicketService)
WEBCHAT_HUB: web.AppKey[WebChatHub] = web.AppKey("webchat_hub")
STATUS = web.AppKey("status", StatusBoard)
WEBCHAT_GUARD = web.AppKey("webchat_guard", WebChatGuard)
API_LIMITER = web.AppKey("api_limiter", RequestLimiter)
SIGN_IN_LIMITER = web.AppKey("sign_in_limiter", RequestLimiter)
INBOX_LIVE: web.AppKey[InboxLive] = web.AppKey("inbox_live")
HOURS = web.AppKey("hours", WorkingHours)
LIVE_HOURS = web.AppKey("live_hours", LiveHours)
CLOCK: web.AppKey[Callable[[], datetime]] = web.AppKey("clock")
