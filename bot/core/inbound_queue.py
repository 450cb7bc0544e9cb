"""Durable, batched inbound queue for the channel packages (generic HTTP, VK, WhatsApp).

A channel's route stores what arrived (group commit: requests arriving together are stored in
one statement) and answers its platform; the messages are then handled many to a transaction
and their replies sent after commit, as the Telegram inbox does. A redelivered key hits the
unique index and is dropped; a crash leaves the event pending and recovery handles it.

A channel registers a `Source`: how to turn a stored payload into the core's `InboundMessage`
inside the handling transaction (`prepare`, which may read and write that channel's own state),
and what to do once the transaction is committed (`after_commit`, e.g. VK's button answer).
If one message of a batch fails, the batch is rolled back and each is handled alone, so a bad
one holds back none; a message that fails alone is marked failed once, with its reason.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.core import untrusted
from bot.core.arrivals import BATCH, Waiter, recover_pending, store_and_answer
from bot.core.conversation import Conversation
from bot.core.messages import InboundMessage
from bot.core.outbox import Outbox, QueuedReply, ReplyBuffer
from bot.metrics import Metrics
from storage.db import DB_ERRORS, short_statements
from storage.recovery import recovery_loop
from storage.repositories.conversation import ConversationLog
from storage.repositories.customers import CustomerRepository
from storage.repositories.events import InboundEventRepository

log = logging.getLogger(__name__)

Prepare = Callable[[AsyncSession, dict[str, Any]], Awaitable[InboundMessage | None]]
AfterCommit = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class Source:
    name: str  # inbound_events.source: "vk", "whatsapp", "http:shop"
    label: str  # the metrics label: the channel's name
    prepare: Prepare
    after_commit: AfterCommit | None = None


@dataclass
class _Ready:
    event_id: int
    source: Source
    payload: dict[str, Any]
    recovered: bool = False  # checked to be still pending in its handling transaction


class InboundQueue:
    def __init__(
        self,
        session_pool: async_sessionmaker[AsyncSession],
        conversation: Conversation,
        outbox: Outbox,
        metrics: Metrics,
        *,
        batch: int = 64,
        recovery_interval: float = 15.0,
    ) -> None:
        self._pool = session_pool
        self._conversation = conversation
        self._outbox = outbox
        self._metrics = metrics
        self._batch = batch
        self._recovery_interval = recovery_interval
        self._sources: dict[str, Source] = {}
        self._arrivals: list[tuple[Source, str, dict[str, Any], Waiter]] = []
        self._storing: asyncio.Task[None] | None = None
        self._ready: list[_Ready] = []
        self._in_flight: set[int] = set()
        self._handling: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._recovery: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    def register(self, source: Source) -> None:
        self._sources[source.name] = source

    # Storing ---------------------------------------------------------------------------------

    async def accept(self, source: str, key: str, payload: dict[str, Any]) -> bool:
        """Store one arrival and schedule it; False for a key stored before (a redelivery).
        Database errors propagate: the route answers 503 and the platform sends it again."""
        known = self._sources[source]
        future: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self._arrivals.append((known, key, payload, future))
        if self._storing is None or self._storing.done():
            self._storing = asyncio.create_task(self._store_arrivals())
        event_id = await future
        if event_id is None:
            self._metrics.updates_duplicate.labels(known.label).inc()
            return False
        self._metrics.updates_received.labels(known.label).inc()
        self.schedule(event_id, known, payload)
        return True

    async def _store_arrivals(self) -> None:
        with short_statements():
            while self._arrivals:
                batch, self._arrivals = self._arrivals[:BATCH], self._arrivals[BATCH:]
                by_source: dict[str, list[tuple[str, dict[str, Any], Waiter]]] = {}
                for source, key, payload, waiter in batch:
                    by_source.setdefault(source.name, []).append((key, payload, waiter))
                for name, items in by_source.items():
                    rows = [
                        (key, json.dumps(payload, ensure_ascii=False)) for key, payload, _ in items
                    ]
                    await store_and_answer(self._pool, name, rows, [w for _, _, w in items])

    # Handling --------------------------------------------------------------------------------

    def schedule(
        self, event_id: int, source: Source, payload: dict[str, Any], *, recovered: bool = False
    ) -> bool:
        """Queue a stored event for handling; False if it is in hand already."""
        if event_id in self._in_flight:
            return False
        self._in_flight.add(event_id)
        self._ready.append(_Ready(event_id, source, payload, recovered))
        if self._handling is None or self._handling.done():
            self._handling = self._track(self._handle_ready())
        return True

    async def _handle_ready(self) -> None:
        with short_statements():
            while self._ready:
                batch, self._ready = self._ready[: self._batch], self._ready[self._batch :]
                try:
                    await self._process_batch(batch)
                finally:
                    for item in batch:
                        self._in_flight.discard(item.event_id)

    async def _process_batch(self, batch: list[_Ready]) -> None:
        handled: list[tuple[_Ready, list[QueuedReply]]] = []
        try:
            async with self._pool() as session, session.begin():
                batch = await _still_pending(session, batch)
                prepared = [
                    (item, await item.source.prepare(session, item.payload)) for item in batch
                ]
                # As the Telegram inbox does: the batch's customers with their open tickets in
                # one query per channel, and ids for its log rows in one round trip.
                people: dict[str, set[str]] = {}
                for _, message in prepared:
                    if message is not None:
                        people.setdefault(message.channel, set()).add(message.external_id)
                customers = CustomerRepository(session)
                for channel, external_ids in people.items():
                    await customers.preload(channel, external_ids)
                await ConversationLog(session).reserve_ids(2 * len(batch))
                buffers: list[tuple[_Ready, ReplyBuffer]] = []
                for item, message in prepared:
                    buffers.append((item, await self._handle(session, message)))
                queued = await self._outbox.enqueue_many(
                    session, [(buffer, item.event_id) for item, buffer in buffers]
                )
                await InboundEventRepository(session).mark_done([i.event_id for i in batch])
            handled = [(item, q) for (item, _), q in zip(buffers, queued, strict=True)]
        except DB_ERRORS:
            log.warning("database unavailable while handling %d channel messages", len(batch))
            return
        except Exception as exc:
            # One broken message must not stop the rest: each alone (and said, since a batch
            # that always fails costs every message a transaction of its own).
            log.warning(
                "a batch of %d channel messages failed (%s); handling each alone",
                len(batch),
                type(exc).__name__,
            )
            for item in batch:
                await self._process_one(item)
            return
        self._after(handled)

    async def _dispatch(self, session: AsyncSession, item: _Ready) -> ReplyBuffer:
        return await self._handle(session, await item.source.prepare(session, item.payload))

    async def _handle(self, session: AsyncSession, message: InboundMessage | None) -> ReplyBuffer:
        buffer = ReplyBuffer()
        if message is not None:
            outcome = await self._conversation.handle(session, message)
            buffer.extend(message.channel, message.external_id, outcome.replies)
            buffer.add_posts(list(outcome.posts))
        return buffer

    async def _process_one(self, item: _Ready) -> None:
        try:
            async with self._pool() as session, session.begin():
                if not await _still_pending(session, [item]):
                    return
                buffer = await self._dispatch(session, item)
                queued = await self._outbox.enqueue(session, buffer, item.event_id)
                await InboundEventRepository(session).mark_done([item.event_id])
        except DB_ERRORS:
            log.warning("database unavailable while handling event %s", item.event_id)
            return
        except Exception as exc:
            self._metrics.updates_failed.labels(item.source.label).inc()
            reason = untrusted.failure_reason(exc)
            log.error("handling event %s failed: %s", item.event_id, reason, exc_info=exc)
            try:
                async with self._pool() as session, session.begin():
                    await InboundEventRepository(session).mark_failed(
                        item.event_id, reason, final=True
                    )
            except DB_ERRORS:
                log.warning("could not record failure of event %s", item.event_id)
            return
        self._after([(item, queued)])

    def _after(self, handled: list[tuple[_Ready, list[QueuedReply]]]) -> None:
        """After commit: each channel's follow-up, then the replies, in order per recipient
        and side by side across recipients."""
        last: dict[tuple[str, str], asyncio.Task[None]] = {}
        for item, replies in handled:
            self._metrics.updates_handled.labels(item.source.label).inc()
            if item.source.after_commit is not None:
                item.source.after_commit(item.payload)
            if not replies:
                continue
            chats = {(r.channel, r.recipient) for r in replies}
            earlier = {last[c] for c in chats if c in last}
            task = self._track(self._deliver(replies, earlier))
            last.update(dict.fromkeys(chats, task))

    async def _deliver(self, replies: list[QueuedReply], earlier: set[asyncio.Task[None]]) -> None:
        if earlier:
            await asyncio.wait(earlier)
        await self._outbox.deliver(replies)

    def _track(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # Recovery and lifecycle ------------------------------------------------------------------

    def _schedule_recovered(self, source: Source, event_id: int, payload: dict[str, Any]) -> bool:
        return self.schedule(event_id, source, payload, recovered=True)

    async def recover(self, min_age: float = 0.0) -> int:
        """Schedule every pending event older than `min_age` seconds; returns how many. They
        are handled in batches, as new ones are (see bot.core.arrivals.recover_pending)."""
        count = 0
        for name, source in self._sources.items():
            count += await recover_pending(
                self._pool,
                name,
                min_age,
                functools.partial(self._schedule_recovered, source),
                self._in_flight,
                stopping=self._stopping,
            )
        return count

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def start(self) -> None:
        if self._sources:
            self._recovery = asyncio.create_task(
                recovery_loop(
                    self.recover,
                    self._recovery_interval,
                    "channel messages",
                    log,
                    stop=self._stopping,
                )
            )

    async def stop(self) -> None:
        """The recovery loop ends between passes (never cancelled inside a query); what is
        being handled finishes."""
        self._stopping.set()
        if self._recovery is not None:
            await asyncio.gather(self._recovery, return_exceptions=True)
        await self.drain()


async def _still_pending(session: AsyncSession, batch: list[_Ready]) -> list[_Ready]:
    """Recovered events handled since recovery read them are left out."""
    recovered = [item.event_id for item in batch if item.recovered]
    if not recovered:
        return batch
    pending = await InboundEventRepository(session).still_pending(recovered)
    return [item for item in batch if not item.recovered or item.event_id in pending]
