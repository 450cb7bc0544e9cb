"""Factories for the aiogram side: the Bot pointed at `[telegram] api_base`, the Dispatcher."""

from __future__ import annotations

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.methods.base import Response
from aiogram.types import Message, Update, User

from bot.config import TelegramConfig
from bot.core.conversation import Conversation
from handlers.telegram import create_router

# aiogram builds `Response[T]` for every API answer; pydantic keeps parametrised generics only
# weakly, so without a strong reference each call rebuilds the model class (about a millisecond
# of CPU per message in our profile). Holding them here makes that a dictionary lookup.
_PINNED_RESPONSE_TYPES = (
    Response[Message],
    Response[bool],
    Response[list[Update]],
    Response[User],
)


def create_bot(config: TelegramConfig) -> Bot:
    session = AiohttpSession(api=TelegramAPIServer.from_base(config.api_base.rstrip("/")))
    return Bot(token=config.token, session=session)


def create_dispatcher(conversation: Conversation) -> Dispatcher:
    """Long-lived services go into workflow data; handlers name them as parameters."""
    # No FSM: conversation state lives in SQL, and its middleware costs time on every update.
    dispatcher = Dispatcher(disable_fsm=True, conversation=conversation)
    dispatcher.include_router(create_router())
    return dispatcher
