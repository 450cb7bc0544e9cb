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
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.core.instance import this_instance
from bot.core.messages import Attachment, Button, Reply
from bot.status import StatusBoard
from storage.db import DB_ERRORS, one_statement, short_statements
from storage.models import Customer, OutboxMessage, utcnow
from storage.recovery import LogThrottle, periodic, recovery_loop
from storage.repositories.customers import CustomerRepository
from storage.repositories.outbox import OutboxRepository

log = logging.getLogger(__name__)
MARKED_MEMORY = 300.0  # seconds a sent mark is remembered (see Outbox._marked)
# A reply waits for another instance's earlier rows to the same chat while they are leased,
# but never longer than this many leases (an instance stuck yet renewing must not hold a
# chat forever).
MAX_WAIT_LEASES = 10
WRITES = "database_writes"  # the StatusBoard part a failing sent-mark reports


class SendingStopped(Exception):
    """The process is stopping: a send that has not started must not start (its row stays
    pending for the next process)."""


class SendStatus(enum.Enum):
    SENT = "sent"
    # Handed to the channel, which keeps it for a recipient who is not there to see it now
    # (a web chat visitor with no page open): the outbox is done with it, and a campaign
    # counts the survey as sent only once the channel says it was shown.
    HELD = "held"
    BLOCKED = "blocked"  # the recipient cannot be reached (403): never retry
    RETRY = "retry"  # transient: try again later
    FAILED = "failed"  # permanent for this message (e.g. 400): give up on it


@dataclass(frozen=True)
class SendResult:
    status: SendStatus
    error: str = ""
    # The platform's id for what was sent, where it later reports on it (a WhatsApp wamid):
    # stored with the sent-mark, in the same batched statement.
    external_id: str | None = None


# A sender's error that starts with this names why a customer was not reached at all (not a
# refused edit or a bad button): the outbox tells staff.
NOT_REACHED = "not reached: "


class ChannelSender(Protocol):
    async def send(
        self,
        recipient: str,
        reply: Reply,
        *,
        sent_ids: list[int] | None = None,
        key: str | None = None,
    ) -> SendResult:
        """Deliver one reply; append the channel's message ids to `sent_ids` when it has any.
        `key` names this message for good (an outbox row, a delivery): a platform that can
        recognise a resend by it (VK's random_id) never shows a retry twice."""
        ...


# Called in the transaction that marks a customer unreachable; returns posts to queue (the staff
# inbox wants to know).
BlockedHook = Callable[[AsyncSession, Customer], Awaitable[list[tuple[str, str, Reply]]]]
# Called when a message to a customer fails for good, with the reason.
FailedHook = Callable[[AsyncSession, Customer, str], Awaitable[list[tuple[str, str, Reply]]]]


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
    if reply.edit_only:
        data["edit_only"] = True
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
        edit_only=bool(data.get("edit_only")),
        image=base64.b64decode(data["image"]) if data.get("image") else None,
    )


@dataclass
class ReplyBuffer:
    """Replies a handler produced, waiting to be written to the outbox with the event."""

    items: list[tuple[str, str, Reply]] = field(default_factory=list)

    def extend(self, channel: str, recipient: str, replies: list[Reply]) -> None:
        self.items.extend((channel, recipient, reply) for reply in replies)

    def extend_many(self, channel: str, recipients: list[str], reply: Reply) -> None:
        self.items.extend((channel, recipient, reply) for recipient in recipients)

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
        pickup_interval: float = 1.0,
        flush_interval: float = 0.05,
        on_blocked: BlockedHook | None = None,
        on_failed: FailedHook | None = None,
        status: StatusBoard | None = None,
        retry: RetryPolicy | None = None,
        recovery_page: int = 500,
        owner: str = "",
        lease_seconds: float = 30.0,
        sole: bool = False,
    ) -> None:
        # Rows this instance queues or claims are leased to `owner` for `lease_seconds`,
        # renewed at every recovery pass while it lives; another instance's recovery takes
        # them only once the lease has expired.
        self.owner = owner or this_instance()
        self._lease = timedelta(seconds=lease_seconds)
        # The only instance there can be (SQLite): any other owner's lease is a dead one's.
        self._sole = sole
        self._free_at: datetime | None = None  # when rows another instance holds come free
        self._retry = retry or RetryPolicy()
        self._recovery_page_size = recovery_page
        self._pool = session_pool
        self._status = status or StatusBoard()
        self._on_blocked = on_blocked
        self._on_failed = on_failed
        self._senders = senders
        self._recovery_interval = recovery_interval
        self._pickup_interval = pickup_interval
        self._flush_interval = flush_interval
        self._flush_delay = flush_interval  # grows while the sent-marks cannot be written
        self._sent: list[int] = []
        self._flushing: set[int] = set()
        # Marked sent in the last few minutes: a recovery pass that read them as pending just
        # before the mark must not send them again.
        self._marked: dict[int, float] = {}
        self._in_flight: set[int] = set()
        self._external: dict[int, str] = {}  # sent, not yet marked: id -> the platform's id
        # Recipients whose earlier post waits its back-off: their new posts wait behind it (in
        # SQL, for recovery) so that a topic never gets a relay before its ticket's card.
        self._stalled: set[tuple[str, str]] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._loops: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        self._throttle = LogThrottle(log)
        self._sending = True

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
        ids = iter(await OutboxRepository(session).add_many(rows, lease=self._lease_now()))
        return [
            [
                QueuedReply(next(ids), channel, recipient, reply)
                for channel, recipient, reply in b.items
            ]
            for b, _ in buffers
        ]

    def _lease_now(self) -> tuple[str, datetime]:
        return self.owner, utcnow() + self._lease

    async def queued_elsewhere(
        self, session: AsyncSession, queued: list[QueuedReply]
    ) -> dict[tuple[str, str], list[int]]:
        """In the transaction that queued `queued`: rows to the same recipients another
        instance queued before them and has not sent yet ((channel, recipient) -> ids), to be
        waited for (`wait_sent`) so that a chat's answers keep their order."""
        if self._sole or not queued:
            return {}
        return await OutboxRepository(session).queued_before(
            [(item.channel, item.recipient) for item in queued],
            min(item.id for item in queued),
            self.owner,
        )

    async def wait_sent(self, ids: list[int]) -> None:
        """Until another instance has sent these rows (it marks them within its flush
        interval), for as long as it holds them and one lease after: a live instance renews its
        leases, so a slow one is waited for however slow; a dead one's run out, its rows are
        recovery's within a lease, and ours go then at the latest. MAX_WAIT_LEASES at most."""
        waiting = set(ids)
        lease = self._lease.total_seconds()
        started = time.monotonic()
        deadline, cap = started + lease, started + MAX_WAIT_LEASES * lease
        pause = self._flush_interval
        while waiting and self._sending and time.monotonic() < deadline:
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.25)  # a chat's turn comes within its sends; never long
            try:
                async with self._pool() as session:
                    waiting, held = await OutboxRepository(session).still_pending(
                        list(waiting), utcnow()
                    )
            except DB_ERRORS:
                return
            if held:
                deadline = min(cap, time.monotonic() + lease)

    async def renew_leases(self) -> None:
        """Extend this instance's hold on its pending rows (every third of the lease, and
        before recovering), and note when rows other instances hold come free."""
        if self._sole:
            return  # the only instance: nobody else takes its rows
        async with self._pool() as session, session.begin():
            repository = OutboxRepository(session)
            await repository.renew(self._lease_now())
            self._free_at = await repository.held_elsewhere_until(self.owner, utcnow())

    async def pick_up(self) -> int:
        """Claim and send what other processes handed over; returns how many."""
        async with self._pool() as session, session.begin():
            rows = await OutboxRepository(session).claim_handoffs(list(self._senders))
        queued = [
            QueuedReply(row.id, row.channel, row.recipient, reply_from_payload(row.payload))
            for row in rows
        ]
        await self.deliver(queued)
        return len(queued)

    async def deliver(self, queued: list[QueuedReply], *, resuming: bool = False) -> None:
        """Send in order. Sent ids are marked in batches: a crash before the flush resends at
        most the last flush interval's messages. Never raises: a row whose send or mark fails
        stays pending and recovery takes it after its back-off. `resuming`: these rows are
        recovery's, due and in order, so their recipients are no longer held back."""
        blocked: set[tuple[str, str]] = set()
        if resuming:
            self._stalled.difference_update((item.channel, item.recipient) for item in queued)
        for item in queued:
            if not self._sending:
                break  # stopping: the rest stays pending for the next process
            if self._already_sent(item.id):
                continue
            if (item.channel, item.recipient) in self._stalled:
                continue  # behind a post in back-off: recovery sends it after that one
            self._in_flight.add(item.id)
            try:
                await self._deliver_one(item, blocked)
            except Exception:  # a bug or an outage in the marking: the row stays pending
                self._throttle.warning(
                    "deliver",
                    "delivering outbox %s failed; recovery will retry",
                    item.id,
                    exc_info=True,
                )
            finally:
                self._in_flight.discard(item.id)
        if not self._tasks:  # not running in a server: nobody else will flush
            await self.flush()

    async def _deliver_one(self, item: QueuedReply, blocked: set[tuple[str, str]]) -> None:
        if (item.channel, item.recipient) in blocked:
            await self._mark([item.id], "blocked")
            return
        sender = self._senders.get(item.channel)
        if sender is None:
            return  # stays pending until the channel is configured
        try:
            result = await sender.send(item.recipient, item.reply, key=f"outbox:{item.id}")
        except asyncio.CancelledError:
            raise
        except SendingStopped:
            return  # never sent: stays pending, no attempt counted
        except Exception as exc:
            # An answer the sender did not expect (an HTML error page, a new error class):
            # an attempt like any other, retried with back-off.
            result = SendResult(SendStatus.RETRY, f"{type(exc).__name__}: {exc}"[:500])
        await self._settle(item, result, blocked)

    async def _settle(
        self, item: QueuedReply, result: SendResult, blocked: set[tuple[str, str]]
    ) -> None:
        if result.status in (SendStatus.SENT, SendStatus.HELD):
            self._sent.append(item.id)
            if result.external_id is not None:
                self._external[item.id] = result.external_id
        elif result.status is SendStatus.BLOCKED:
            blocked.add((item.channel, item.recipient))
            await self._mark_blocked(item)
        elif result.status is SendStatus.FAILED:
            await self._mark_failed(item, result.error)
        else:
            self._stalled.add((item.channel, item.recipient))
            await self._count_attempt(item.id, result.error)

    async def _mark(self, ids: list[int], status: str, error: str | None = None) -> None:
        try:
            async with self._pool() as session, session.begin():
                await OutboxRepository(session).mark(ids, status, error)
        except DB_ERRORS:
            self._throttle.warning(
                "mark", "could not mark outbox rows as %s; recovery will retry", status
            )

    async def _mark_failed(self, item: QueuedReply, error: str) -> None:
        """Failed for good. Staff hear of it when the channel said why (a WhatsApp window),
        not for an edit Telegram refused, which is not a customer left without an answer."""
        if self._on_failed is None or not error.startswith(NOT_REACHED):
            await self._mark([item.id], "failed", error)
            return
        queued: list[QueuedReply] = []
        try:
            async with self._pool() as session, session.begin():
                await OutboxRepository(session).mark([item.id], "failed", error)
                customer = await CustomerRepository(session).by_identity(
                    item.channel, item.recipient
                )
                if customer is not None:
                    posts = await self._on_failed(session, customer, error)
                    queued = await self.enqueue(session, ReplyBuffer(posts))
        except DB_ERRORS:
            self._throttle.warning("mark", "could not mark outbox %s as failed", item.id)
        if queued:
            await self.deliver(queued)

    async def _mark_blocked(self, item: QueuedReply) -> None:
        queued: list[QueuedReply] = []
        try:
            async with self._pool() as session, session.begin():
                await OutboxRepository(session).mark([item.id], "blocked", "recipient blocked")
                customers = CustomerRepository(session)
                customer = await customers.by_identity(item.channel, item.recipient)
                if customer is not None:
                    await customers.mark_blocked(customer, item.channel)
                    if self._on_blocked is not None:
                        posts = await self._on_blocked(session, customer)
                        queued = await self.enqueue(session, ReplyBuffer(posts))
        except DB_ERRORS:
            self._throttle.warning("mark", "could not mark outbox %s as blocked", item.id)
        if queued:
            await self.deliver(queued)

    async def _count_attempt(self, message_id: int, error: str) -> None:
        try:
            async with self._pool() as session, session.begin():
                repository = OutboxRepository(session)
                row = await session.get(OutboxMessage, message_id)
                attempts = (row.attempts if row is not None else 0) + 1
                give_up = attempts >= self._retry.max_attempts
                retry_at = None if give_up else utcnow() + self._retry.delay(attempts)
                await repository.count_attempt(
                    message_id, error, give_up=give_up, retry_at=retry_at
                )
            self._throttle.warning(
                "attempt", "send of outbox %s failed (attempt %d): %s", message_id, attempts, error
            )
        except DB_ERRORS:
            self._throttle.warning(
                "mark", "could not record a failed send of outbox %s", message_id
            )

    async def flush(self) -> bool:
        """Mark everything sent so far as sent, in one statement; False if it could not."""
        if not self._sent:
            return True
        ids, self._sent = self._sent, []
        # Until the mark is written these are neither in _sent nor marked in SQL: recovery
        # must still see them as sent (it once resent a reply in this gap).
        self._flushing.update(ids)
        try:
            with short_statements():
                external = {i: self._external[i] for i in ids if i in self._external}
                async with one_statement(self._pool) as session:
                    await OutboxRepository(session).mark_sent(ids, external)
        except asyncio.CancelledError:
            # Shutting down mid-flush: keep the ids for the final flush in stop(), or they
            # would be sent again by the next process.
            self._sent.extend(ids)
            raise
        except Exception as exc:
            # Kept in memory (recovery skips them, so they are not sent again) and retried.
            self._sent.extend(ids)
            self._status.failing(WRITES, f"marking replies sent: {type(exc).__name__}")
            self._throttle.warning(
                "flush", "could not mark %d outbox rows sent; will retry", len(ids)
            )
            return False
        finally:
            self._flushing.difference_update(ids)
        for i in ids:
            self._external.pop(i, None)
        now = time.monotonic()
        self._marked.update(dict.fromkeys(ids, now))
        if len(self._marked) > 10_000 or next(iter(self._marked.values())) < now - MARKED_MEMORY:
            self._marked = {i: t for i, t in self._marked.items() if t >= now - MARKED_MEMORY}
        self._status.healthy(WRITES)
        return True

    async def recover(self, min_age: float = 0.0) -> int:
        """Send pending rows older than `min_age` seconds (left by a crash or a failed send)
        whose back-off is over and that no live instance holds: all of them, a page at a time,
        each page claimed and sent before the next is read. Rows for a channel with no sender
        (Telegram off) wait until one is configured; rows sent but not yet marked, or on the
        wire, are skipped."""
        cutoff = utcnow() - timedelta(seconds=min_age)
        after = 0
        count = 0
        await self.renew_leases()
        while self._sending:
            queued, after, full = await self._recovery_page(cutoff, after)
            await self.deliver(queued, resuming=True)
            count += len(queued)
            if not full:
                break
        return count

    async def _recovery_page(
        self, cutoff: datetime, after: int
    ) -> tuple[list[QueuedReply], int, bool]:
        """One page of pending rows after id `after`: what to send, the last id read, and
        whether the page was full (more may follow)."""
        queued = []
        # One session for the read and the give-ups: marking through a second session while
        # this one is open would wait forever for SQLite's only connection.
        async with self._pool() as session, session.begin():
            repository = OutboxRepository(session)
            channels = list(self._senders)
            waiting = await repository.waiting(channels)
            rows = await repository.claim_pending(
                cutoff,
                channels,
                self._lease_now(),
                utcnow(),
                limit=self._recovery_page_size,
                after_id=after,
                sole=self._sole,
            )
            self._stalled.intersection_update(waiting)
            for row in rows:
                after = row.id
                first_waiting = waiting.get((row.channel, row.recipient))
                if self._already_sent(row.id) or (
                    first_waiting is not None and row.id > first_waiting
                ):
                    continue
                if row.attempts >= self._retry.max_attempts:
                    await repository.mark([row.id], "failed", row.error or "too many attempts")
                    continue
                queued.append(
                    QueuedReply(row.id, row.channel, row.recipient, reply_from_payload(row.payload))
                )
        return queued, after, len(rows) == self._recovery_page_size

    def _already_sent(self, row_id: int) -> bool:
        """On the wire, or sent and not yet (or only just) marked."""
        return (
            row_id in self._in_flight
            or row_id in self._flushing
            or row_id in self._marked
            or row_id in self._sent
        )

    def stop_sending(self) -> None:
        """Start no more sends; those on the wire finish and are marked by stop(). Senders
        waiting for a turn are released by their limiter (RateLimiter.close)."""
        self._sending = False

    def start(self) -> None:
        self._sending = True
        self._stopping = asyncio.Event()
        self._loops = [
            asyncio.create_task(self._recovery_loop()),
            asyncio.create_task(
                periodic(
                    self.renew_leases,
                    lambda: self._lease.total_seconds() / 3,
                    "outbox lease renewal",
                    log,
                    stop=self._stopping,
                )
            ),
            asyncio.create_task(
                periodic(
                    self.pick_up,
                    lambda: self._pickup_interval,
                    "outbox pick-up",
                    log,
                    stop=self._stopping,
                )
            ),
        ]
        self._tasks = [asyncio.create_task(self._flush_loop())]

    async def stop(self) -> None:
        # The database loops end between passes, never cancelled inside a query (that can
        # leave the driver's connection half closed); the flush loop knows how to be cancelled.
        self._stopping.set()
        await asyncio.gather(*self._loops, return_exceptions=True)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await self.flush()
        await self._release_leases()

    async def _release_leases(self) -> None:
        """What is still queued is anybody's now: the next process (or another instance)
        sends it at once instead of after the lease."""
        if self._sole:
            return
        try:
            async with self._pool() as session, session.begin():
                await OutboxRepository(session).release(self.owner, utcnow())
        except DB_ERRORS:
            log.warning("outbox leases not given up at stop: they run out by themselves")

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self._flush_delay)
            ok = await self.flush()  # never raises: a failure is False, kept and logged
            # While marks fail (a full disk, a lost database), back off up to 5 s.
            self._flush_delay = (
                self._flush_interval if ok else min(max(self._flush_delay * 2, 0.2), 5.0)
            )

    async def _recovery_loop(self) -> None:
        def sooner() -> float | None:
            """A killed instance's rows are sent as soon as its lease has run out."""
            if self._free_at is None:
                return None
            return (self._free_at - utcnow()).total_seconds() + 0.05

        await recovery_loop(
            self.recover,
            self._recovery_interval,
            "outbox replies",
            log,
            stop=self._stopping,
            sooner=sooner,
        )


@dataclass(frozen=True)
class RetryPolicy:
    """Back-off after a failed send: `base` seconds, doubling per attempt, at most `cap`."""

    base: float = 5.0
    cap: float = 300.0
    max_attempts: int = 20

    def delay(self, attempts: int) -> timedelta:
        return timedelta(seconds=min(self.base * 2 ** min(max(attempts - 1, 0), 30), self.cap))


async def hand_over(session: AsyncSession, buffer: ReplyBuffer) -> int:
    """Queue replies for the running bot to send (from a process or a part that sends nothing
    itself, like the CLI): its outbox claims them within `pickup_interval`, not at its next
    recovery sweep. Returns how many."""
    rows = [
        (channel, recipient, reply_to_payload(reply), None)
        for channel, recipient, reply in buffer.items
    ]
    return len(await OutboxRepository(session).add_many(rows, status="handoff"))
