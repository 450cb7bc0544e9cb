"""aiogram routers: translate, call the conversation core, hand replies to the outbox."""

from __future__ import annotations

from aiogram import Router
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.conversation import Conversation
from bot.core.delivery.outbox import ReplyBuffer
from handlers.translate import CHANNEL, inbound_from_callback, inbound_from_message


async def private_chat(message: Message) -> bool:
    """Customers write in private chats; an async filter, because aiogram runs synchronous
    filters (MagicFilter included) in a thread pool, one hop per update."""
    return message.chat.type == "private"


def create_router() -> Router:
    router = Router(name="customer")
    router.message.filter(private_chat)
    router.message.register(on_message)
    router.edited_message.filter(private_chat)
    router.edited_message.register(on_edited_message)
    router.callback_query.register(on_button)
    return router


async def on_message(
    message: Message, session: AsyncSession, conversation: Conversation, replies: ReplyBuffer
) -> None:
    outcome = await conversation.handle(session, inbound_from_message(message))
    replies.extend(CHANNEL, str(message.chat.id), outcome.replies)
    replies.add_posts(outcome.posts)


async def on_edited_message(
    message: Message, session: AsyncSession, conversation: Conversation, replies: ReplyBuffer
) -> None:
    """A corrected message: it reaches the open ticket as a correction."""
    outcome = await conversation.handle(session, inbound_from_message(message, edited=True))
    replies.extend(CHANNEL, str(message.chat.id), outcome.replies)
    replies.add_posts(outcome.posts)


async def on_button(
    query: CallbackQuery, session: AsyncSession, conversation: Conversation, replies: ReplyBuffer
) -> None:
    # The spinner is stopped by the inbox after commit: no network call inside a transaction.
    inbound = inbound_from_callback(query)
    if inbound is None:
        return
    outcome = await conversation.handle(session, inbound)
    replies.extend(CHANNEL, inbound.external_id, outcome.replies)
    replies.add_posts(outcome.posts)
