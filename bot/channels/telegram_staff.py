"""The staff inbox in Telegram: a forum topic per ticket, or reply threading in a plain group.

Posts for the staff arrive from the outbox with a ticket id as recipient; this sender finds (or
creates) the ticket's topic and remembers every message it posts, so that a staff reply to any of
them is a reply to the ticket.
"""

from __future__ import annotations

import asyncio
import logging

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channels.telegram import TelegramSender
from bot.core.messages import Reply
from bot.core.outbox import SendResult, SendStatus
from bot.core.tickets import topic_name
from storage.models import Customer, Ticket
from storage.repositories.tickets import StaffPostRepository

log = logging.getLogger(__name__)
NO_FORUM = 0  # staff_thread_id value for a ticket whose group has no topics


class TelegramStaffSender:
    def __init__(
        self,
        bot: Bot,
        sender: TelegramSender,
        session_pool: async_sessionmaker[AsyncSession],
        staff_chat_id: int,
    ) -> None:
        self._bot = bot
        self._sender = sender
        self._pool = session_pool
        self._chat_id = staff_chat_id
        self._topic_lock = asyncio.Lock()  # one topic per ticket, even when posts race

    async def send(
        self, recipient: str, reply: Reply, *, sent_ids: list[int] | None = None
    ) -> SendResult:
        ticket_id = int(recipient)
        if ticket_id == 0:  # belongs to no ticket (a detractor alert): the group's main chat
            return await self._sender.send(str(self._chat_id), reply, sent_ids=sent_ids)
        thread_id = await self._thread_for(ticket_id)
        if thread_id is None:
            return SendResult(SendStatus.FAILED, f"ticket {ticket_id} not found")
        posted: list[int] = []
        result = await self._sender.send(
            str(self._chat_id), reply, thread_id=thread_id or None, sent_ids=posted
        )
        if sent_ids is not None:
            sent_ids.extend(posted)
        if posted:
            async with self._pool() as session, session.begin():
                for message_id in posted:
                    await StaffPostRepository(session).remember(message_id, ticket_id)
        return result

    async def _thread_for(self, ticket_id: int) -> int | None:
        """The ticket's forum topic, created on first use; NO_FORUM in a plain group."""
        async with self._topic_lock:
            return await self._find_or_create_thread(ticket_id)

    async def _find_or_create_thread(self, ticket_id: int) -> int | None:
        async with self._pool() as session, session.begin():
            ticket = await session.get(Ticket, ticket_id)
            if ticket is None:
                return None
            if ticket.staff_thread_id is not None:
                return ticket.staff_thread_id
            customer = await session.get(Customer, ticket.customer_id)
            assert customer is not None
            name = topic_name(ticket, customer)
        try:
            topic = await self._bot.create_forum_topic(self._chat_id, name)
            thread_id = topic.message_thread_id
        except TelegramBadRequest as exc:
            log.info("staff chat has no topics (%s): threading by replies", exc.message)
            thread_id = NO_FORUM
        async with self._pool() as session, session.begin():
            ticket = await session.get(Ticket, ticket_id)
            if ticket is not None:
                ticket.staff_thread_id = thread_id
        return thread_id
