"""aiogram routers: translate, call the conversation core, send. Nothing else lives here."""

from __future__ import annotations

from contextlib import suppress

from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.channels.telegram import TelegramReplySender, inbound_from_callback, inbound_from_message
from bot.core.conversation import Conversation
from bot.core.messages import Reply
from storage.repositories.customers import CustomerRepository


def create_router() -> Router:
    router = Router(name="customer")
    router.message.filter(F.chat.type == "private")
    router.message.register(on_message)
    router.callback_query.register(on_button)
    return router


async def _deliver(
    session: AsyncSession,
    sender: TelegramReplySender,
    chat_id: int,
    replies: list[Reply],
    channel: str,
) -> None:
    if await sender.send(chat_id, replies):
        return
    customer = await CustomerRepository(session).by_identity(channel, str(chat_id))
    if customer is not None:
        customer.unreachable = True


async def on_message(
    message: Message, session: AsyncSession, conversation: Conversation, sender: TelegramReplySender
) -> None:
    inbound = inbound_from_message(message)
    replies = await conversation.handle(session, inbound)
    await _deliver(session, sender, message.chat.id, replies, inbound.channel)


async def on_button(
    query: CallbackQuery,
    session: AsyncSession,
    conversation: Conversation,
    sender: TelegramReplySender,
) -> None:
    inbound = inbound_from_callback(query)
    with suppress(TelegramBadRequest):  # a late or repeated tap: the spinner is gone anyway
        await query.answer()
    if inbound is None or query.message is None:
        return
    replies = await conversation.handle(session, inbound)
    await _deliver(session, sender, query.message.chat.id, replies, inbound.channel)
