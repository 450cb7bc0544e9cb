"""Typed keys for what the aiohttp application carries; handlers read these, not globals."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.channels.webchat import WebChatHub
from bot.config import Settings
from bot.core.conversation import Conversation
from bot.core.outbox import Outbox
from bot.metrics import Metrics
from bot.status import StatusBoard
from bot.telegram.inbox import TelegramInbox
from bot.web.flood import WebChatGuard

SETTINGS = web.AppKey("settings", Settings)
ENGINE = web.AppKey("engine", AsyncEngine)
SESSION_POOL = web.AppKey("session_pool", async_sessionmaker[AsyncSession])
CONVERSATION = web.AppKey("conversation", Conversation)
METRICS = web.AppKey("metrics", Metrics)
TELEGRAM_INBOX = web.AppKey("telegram_inbox", TelegramInbox)
OUTBOX = web.AppKey("outbox", Outbox)
WEBCHAT_HUB = web.AppKey("webchat_hub", WebChatHub)
STATUS = web.AppKey("status", StatusBoard)
WEBCHAT_GUARD = web.AppKey("webchat_guard", WebChatGuard)
