"""Factories for the aiogram side: the Bot pointed at `[telegram] api_base`, the Dispatcher."""

from __future__ import annotations

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from bot.channels.telegram import TelegramReplySender
from bot.config import TelegramConfig
from bot.core.conversation import Conversation
from handlers.telegram import create_router


def create_bot(config: TelegramConfig) -> Bot:
    session = AiohttpSession(api=TelegramAPIServer.from_base(config.api_base.rstrip("/")))
    return Bot(token=config.token, session=session)


def create_dispatcher(conversation: Conversation, sender: TelegramReplySender) -> Dispatcher:
    """Long-lived services go into workflow data; handlers name them as parameters."""
    dispatcher = Dispatcher(conversation=conversation, sender=sender)
    dispatcher.include_router(create_router())
    return dispatcher
