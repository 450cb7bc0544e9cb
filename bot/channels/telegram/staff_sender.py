"""The staff inbox in Telegram: a forum topic per ticket, or reply threading in a plain group.

Posts for the staff arrive from the outbox with a ticket id as recipient; this sender finds (or
creates) the ticket's topic and remembers every message it posts, so that a staff reply to any of
them is a reply to the ticket.

The staff group is not a customer: when the bot cannot post there (removed from the group, the
Bot API down) the post is retried, never marked blocked, and the admins are told once. A topic
someone deleted is made anew, opened with the ticket's card and its whole conversation.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiogram import Bot
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramRetryAfter,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channels.telegram.sender import TelegramSender
from bot.core.delivery.outbox import SendResult, SendStatus
from bot.core.messages import Reply
from bot.core.tickets.service import topic_name
from bot.status import StatusBoard
from storage.models import Customer, Ticket
from storage.repositories.tickets import StaffPostRepository

log = logging.getLogger(__name__)
NO_FORUM = 0  # staff_thread_id value for a ticket whose group has no topics
PART = "staff_group"
# How Telegram says a topic is gone; the post then goes to a new topic.
_TOPIC_GONE = ("thread not found", "topic_deleted", "topic deleted")

Recap = Callable[[AsyncSession, int], Awaitable[Reply | None]]
Alert = Callable[[str], Awaitable[None]]


class StaffGroupUnavailable(Exception):
    """The topic could not be made now (the group refuses us, or the Bot API is down)."""


class TelegramStaffSender:
    def __init__(
        self,
        bot: Bot,
        sender: TelegramSender,
        session_pool: async_sessionmaker[AsyncSession],
        staff_chat_id: int,
        *,
        recap: Recap,
        status: StatusBoard,
        alert: Alert | None = None,
    ) -> None:
        self._bot = bot
        self._sender = sender
        self._pool = session_pool
        self._chat_id = staff_chat_id
        self._recap = recap
        self._status = status
        self._alert = alert
        self._topic_lock = asyncio.Lock()  # one topic per ticket, even when posts race

    async def send(
        self,
        recipient: str,
        reply: Reply,
        *,
        sent_ids: list[int] | None = None,
        key: str | None = None,
    ) -> SendResult:
        ticket_id = int(recipient)
        if ticket_id == 0:  # belongs to no ticket (a detractor alert): the group's main chat
            result = await self._sender.send(str(self._chat_id), reply, sent_ids=sent_ids)
            return await self._observe(result)
        try:
            thread_id = await self._thread_for(ticket_id)
            if thread_id is None:
                return SendResult(SendStatus.FAILED, f"ticket {ticket_id} not found")
            result = await self._post(ticket_id, thread_id, reply, sent_ids)
            if thread_id and result.status is SendStatus.FAILED and _topic_gone(result.error):
                log.info("topic of ticket %s is gone (%s): making it anew", ticket_id, result.error)
                thread_id = await self._thread_for(ticket_id, replacing=thread_id)
                assert thread_id is not None
                async with self._pool() as session:
                    recap = await self._recap(session, ticket_id)
                if recap is not None:
                    await self._post(ticket_id, thread_id, recap, None)
                result = await self._post(ticket_id, thread_id, reply, sent_ids)
        except StaffGroupUnavailable as exc:
            result = SendResult(SendStatus.RETRY, str(exc))
        return await self._observe(result)

    async def _post(
        self, ticket_id: int, thread_id: int, reply: Reply, sent_ids: list[int] | None
    ) -> SendResult:
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

    async def _observe(self, result: SendResult) -> SendResult:
        """Keep the board and the admins informed; a refusal by the group is retried."""
        if result.status is SendStatus.SENT:
            self._status.healthy(PART)
            return result
        if result.status is SendStatus.BLOCKED:
            result = SendResult(SendStatus.RETRY, f"staff group refuses the bot: {result.error}")
        newly_failing = result.status is SendStatus.RETRY and self._status.failing(
            PART, result.error
        )
        if newly_failing and self._alert is not None:
            await self._alert(result.error)
        return result

    async def _thread_for(self, ticket_id: int, replacing: int | None = None) -> int | None:
        """The ticket's forum topic, created on first use (or when `replacing` is gone);
        NO_FORUM in a plain group."""
        async with self._topic_lock:
            return await self._find_or_create_thread(ticket_id, replacing)

    async def _find_or_create_thread(self, ticket_id: int, replacing: int | None) -> int | None:
        async with self._pool() as session, session.begin():
            ticket = await session.get(Ticket, ticket_id)
            if ticket is None:
                return None
            if ticket.staff_thread_id is not None and ticket.staff_thread_id != replacing:
                return ticket.staff_thread_id
            customer = await session.get(Customer, ticket.customer_id)
            assert customer is not None
            name = topic_name(ticket, customer)
        try:
            topic = await self._bot.create_forum_topic(self._chat_id, name)
            thread_id = topic.message_thread_id
        except TelegramBadRequest as exc:
            if "forum" not in exc.message.lower():
                raise StaffGroupUnavailable(f"createForumTopic: {exc.message}") from None
            log.info("staff chat has no topics (%s): threading by replies", exc.message)
            thread_id = NO_FORUM
        except TelegramRetryAfter as exc:
            self._sender.pause(exc.retry_after)
            raise StaffGroupUnavailable("createForumTopic: rate limited") from None
        except (TelegramAPIError, ClientDecodeError) as exc:
            raise StaffGroupUnavailable(f"createForumTopic: {type(exc).__name__}: {exc}") from None
        async with self._pool() as session, session.begin():
            ticket = await session.get(Ticket, ticket_id)
            if ticket is not None:
                ticket.staff_thread_id = thread_id
        return thread_id


def _topic_gone(error: str) -> bool:
    lowered = error.lower()
    return any(marker in lowered for marker in _TOPIC_GONE)
