"""Telegram updates as a source of the inbound queue: what differs from the other channels.

The queue stores, batches, recovers and retries; this says how a batch is handled (the batch's
private chats loaded at once, then aiogram's dispatcher with the routers in `handlers/`), that a
staff-group sender Telegram has not yet been asked about is asked first and outside the
transaction, that "membership unknown" means wait, that an update aiogram cannot parse is broken
for good, and that a button's spinner stops once its update is committed.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress

from aiogram import Bot, Dispatcher
from aiogram.exceptions import TelegramAPIError
from aiogram.types import Update
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.channels.telegram.sender import CHANNEL, customer_chat_of
from bot.channels.telegram.staff_directory import StaffCheckUnavailable, StaffDirectory
from bot.core.delivery.inbound_queue import Payload, Source
from bot.core.delivery.outbox import ReplyBuffer
from storage.repositories.customers import CustomerRepository

HANDLED_KINDS = ("message", "edited_message", "callback_query")


class TelegramUpdates(Source):
    name = CHANNEL
    label = CHANNEL
    waits_on = (StaffCheckUnavailable,)

    def __init__(self, dispatcher: Dispatcher, bot: Bot, staff: StaffDirectory | None) -> None:
        self._dispatcher = dispatcher
        self._bot = bot
        self._staff = staff

    async def handle(self, session: AsyncSession, payloads: Sequence[Payload]) -> list[ReplyBuffer]:
        # The batch's customers and their open tickets in one query, not one per update.
        chats = {chat for payload in payloads if (chat := customer_chat_of(payload)) is not None}
        await CustomerRepository(session).preload(CHANNEL, chats)
        buffers = []
        for payload in payloads:
            buffer = ReplyBuffer()
            # Kinds we do not handle (polls, reactions, future ones) are acknowledged as done.
            if any(kind in payload for kind in HANDLED_KINDS):
                update = Update.model_validate(payload, context={"bot": self._bot})
                await self._dispatcher.feed_update(
                    self._bot, update, session=session, replies=buffer
                )
            buffers.append(buffer)
        return buffers

    def chat_of(self, payload: Payload) -> str | None:
        """A private chat, or a group's topic: the updates of each are handled in order."""
        message = payload.get("message") or payload.get("edited_message")
        if message is None:
            query = payload.get("callback_query")
            message = query.get("message") if isinstance(query, dict) else None
        chat = message.get("chat") if isinstance(message, dict) else None
        if not isinstance(chat, dict) or "id" not in chat:
            return None
        thread = message.get("message_thread_id") if isinstance(message, dict) else None
        return f"{chat['id']}" if thread is None else f"{chat['id']}/{thread}"

    def text_of(self, payload: Payload) -> str | None:
        """A private chat's text (a group's are staff talk, not questions)."""
        message = payload.get("message")
        if not isinstance(message, dict) or customer_chat_of(payload) is None:
            return None
        text = message.get("text")
        return text if isinstance(text, str) else None

    def must_ask_first(self, payload: Payload) -> bool:
        if self._staff is None:
            return False
        users = self._staff.users_to_check([payload])
        return bool(users) and not self._staff.all_known(users)

    async def ask_first(self, payloads: Sequence[Payload]) -> None:
        if self._staff is not None:
            users = self._staff.users_to_check(payloads)
            if users:
                await self._staff.prefetch(users)

    async def after_commit(self, payload: Payload) -> None:
        query = payload.get("callback_query")
        if not isinstance(query, dict) or "id" not in query:
            return
        with suppress(TelegramAPIError):  # a late or repeated tap: the spinner is gone anyway
            await self._bot.answer_callback_query(str(query["id"]))

    def malformed(self, exc: BaseException) -> str | None:
        if isinstance(exc, ValidationError):
            return f"not a valid Update ({exc.error_count()} errors)"
        return None
