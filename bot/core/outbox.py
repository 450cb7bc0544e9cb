"""Durable outbound replies: queued in the event's transaction, sent after commit.

Nothing that talks to a channel happens inside a database transaction, so a slow Bot API never
holds a lock, and a crash after commit leaves rows that the next process sends.
"""

from __future__ import annotations

import asyncio
import base64
import enum
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.core.messages import Attachment, Button, Reply
from storage.db import DB_ERRORS, one_statement, short_statements
from storage.models import Customer, utcnow
from storage.recovery import recovery_loop
from storage.repositories.customers import CustomerRepository
from storage.repositories.outbox import OutboxRepository

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5


class SendStatus(enum.Enum):
    SENT = "sent"
    BLOCKED = "blocked"  # the recipient cannot be reached (403): never retry
    RETRY = "retry"  # transient: try again later
    FAILED = "failed"  # permanent for this message (e.g. 400): give up on it


@dataclass(frozen=True)
class SendResult:
    status: SendStatus
    error: str = ""


class ChannelSender(Protocol):
    async def send(
        self, recipient: str, reply: Reply, *, sent_ids: list[int] | None = None
    ) -> SendResult:
        """Deliver one reply; append the channel's message ids to `sent_ids` when it has any."""
        ...


# Called in the transaction that marks a customer unreachable; returns posts to queue (the staff
# inbox wants to know).
BlockedHook = Callable[[AsyncSession, Customer], Awaitable[list[tuple[str, str, Reply]]]]


def reply_to_payload(reply: Reply) -> str:
    data: dict[str, Any] = {"text": reply.text}
    if reply.title:
        data["title"] = reply.title
    if reply.buttons:
        data["buttons"] = [[[b.text, b.data] for b in row] for row in reply.buttons]
    if reply.attachment:
        data["attachment"] = [reply.attachment.kind, reply.attachment.file_id]
    if reply.edit_message_id:
        data["edit"] = reply.edit_message_id
    if reply.image:
        data["image"] = base64.b64encode(reply.image).decode()
    return json.dumps(data, ensure_ascii=False)


def reply_from_payload(payload: str) -> Reply:
    data = json.loads(payload)
    buttons = tuple(tuple(Button(t, d) for t, d in row) for row in data.get("buttons", []))
    attachment = Attachment(*data["attachment"]) if data.get("attachment") else None
    return Reply(
        data["text"],
        title=data.get("title"),
        buttons=buttons,
        attachment=attachment,
        edit_message_id=data.get("edit"),
        image=base64.b64decode(data["image"]) if data.get("image") else None,
    )


@dataclass
class ReplyBuffer:
    """Replies a handler produced, waiting to be written to the outbox with the event."""

    items: list[tuple[str, str, Reply]] = field(default_factory=list)

    def extend(self, channel: str, recipient: str, replies: list[Reply]) -> None:
        self.items.extend((channel, recipient, reply) for reply in replies)

    def add_posts(self, posts: list[tuple[str, str, Reply]]) -> None:
        self.items.extend(posts)


@dataclass(frozen=True)
class QueuedReply:
    id: int
    channel: str
    recipient: str
    reply: Reply


class Outbox:
    def __init__(
        self,
        session_pool: async_sessionmaker[AsyncSession],
        senders: dict[str, ChannelSender],
        *,
        recovery_interval: float = 15.0,
        flush_interval: float = 0.05,
        on_blocked: BlockedHook | None = None,
    ) -> None:
        self._pool = session_pool
        self._on_blocked = on_blocked
        self._senders = senders
        self._recovery_interval = recovery_interval
        self._flush_interval = flush_interval
        self._sent: list[int] = []
        self._in_flight: set[int] = set()
        self._tasks: list[asyncio.Task[None]] = []

    async def enqueue(
        self, session: AsyncSession, buffer: ReplyBuffer, event_id: int | None = None
    ) -> list[QueuedReply]:
        (queued,) = await self.enqueue_many(session, [(buffer, event_id)])
        return queued

    async def enqueue_many(
        self, session: AsyncSession, buffers: list[tuple[ReplyBuffer, int | None]]
    ) -> list[list[QueuedReply]]:
        """Queue the replies of several events in one statement; per buffer, its rows."""
        rows = [
            (channel, recipient, reply_to_payload(reply), event_id)
            for buffer, event_id in buffers
            for channel, recipient, reply in buffer.items
        ]
        ids = iter(await OutboxRepository(session).add_many(rows))
        return [
            [
                QueuedReply(next(ids), channel, recipient, reply)
                for channel, recipient, reply in b.items
            ]
            for b, _ in buffers
        ]

    async def deliver(self, queued: list[QueuedReply]) -> None:
        """Send in order. Sent ids are marked in batches: a crash before the flush resends at
        most the last flush interval's messages."""
        blocked: set[tuple[str, str]] = set()
        for item in queued:
            if item.id in self._in_flight:
                continue
            self._in_flight.add(item.id)
            try:
                if (item.channel, item.recipient) in blocked:
                    await self._mark([item.id], "blocked")
                    continue
                sender = self._senders.get(item.channel)
                if sender is None:
                    continue  # stays pending until the channel is configured
                result = await sender.send(item.recipient, item.reply)
                await self._settle(item, result, blocked)
            finally:
                self._in_flight.discard(item.id)
        if not self._tasks:  # not running in a server: nobody else will flush
            await self.flush()

    async def _settle(
        self, item: QueuedReply, result: SendResult, blocked: set[tuple[str, str]]
    ) -> None:
        if result.status is SendStatus.SENT:
            self._sent.append(item.id)
        elif result.status is SendStatus.BLOCKED:
            blocked.add((item.channel, item.recipient))
            await self._mark_blocked(item)
        elif result.status is SendStatus.FAILED:
            await self._mark([item.id], "failed", result.error)
        else:
            await self._count_attempt(item.id, result.error)

    async def _mark(self, ids: list[int], status: str, error: str | None = None) -> None:
        try:
            async with self._pool() as session, session.begin():
                await OutboxRepository(session).mark(ids, status, error)
        except DB_ERRORS:
            log.warning("could not mark outbox %s as %s; recovery will retry", ids, status)

    async def _mark_blocked(self, item: QueuedReply) -> None:
        queued: list[QueuedReply] = []
        try:
            async with self._pool() as session, session.begin():
                await OutboxRepository(session).mark([item.id], "blocked", "recipient blocked")
                customer = await CustomerRepository(session).by_identity(
                    item.channel, item.recipient
                )
                if customer is not None:
                    customer.unreachable = True
                    if self._on_blocked is not None:
                        posts = await self._on_blocked(session, customer)
                        queued = await self.enqueue(session, ReplyBuffer(posts))
        except DB_ERRORS:
            log.warning("could not mark outbox %s as blocked", item.id)
        if queued:
            await self.deliver(queued)

    async def _count_attempt(self, message_id: int, error: str) -> None:
        try:
            async with self._pool() as session, session.begin():
                repository = OutboxRepository(session)
                await repository.count_attempt(message_id, error, give_up=False)
        except DB_ERRORS:
            log.warning("could not record a failed send of outbox %s", message_id)

    async def flush(self) -> None:
        """Mark everything sent so far as sent, in one statement."""
        if not self._sent:
            return
        ids, self._sent = self._sent, []
        try:
            with short_statements():
                async with one_statement(self._pool) as session:
                    await OutboxRepository(session).mark_sent(ids)
        except DB_ERRORS:
            self._sent.extend(ids)
            log.warning("could not mark %d outbox rows sent; will retry", len(ids))
        except asyncio.CancelledError:
            # Shutting down mid-flush: keep the ids for the final flush in stop(), or they
            # would be sent again by the next process.
            self._sent.extend(ids)
            raise

    async def recover(self, min_age: float = 0.0) -> int:
        """Send pending rows older than `min_age` seconds (left by a crash or a failed send).
        Rows for a channel with no sender (Telegram off) wait until one is configured."""
        cutoff = utcnow() - timedelta(seconds=min_age)
        async with self._pool() as session:
            rows = await OutboxRepository(session).pending(cutoff, channels=list(self._senders))
            queued = []
            for row in rows:
                if row.attempts >= MAX_ATTEMPTS:
                    await self._mark([row.id], "failed", row.error or "too many attempts")
                    continue
                queued.append(
                    QueuedReply(row.id, row.channel, row.recipient, reply_from_payload(row.payload))
                )
        await self.deliver(queued)
        return len(queued)

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._flush_loop()),
            asyncio.create_task(self._recovery_loop()),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await self.flush()

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self._flush_interval)
            await self.flush()

    async def _recovery_loop(self) -> None:
        await recovery_loop(self.recover, self._recovery_interval, "outbox replies", log)
