"""The durable, batched inbound queue every channel's events go through.

A route or poller stores what arrived before it answers its platform (group commit: arrivals
that come together are stored in one statement); the events are then handled many to a
transaction and their replies sent after commit. A redelivered key hits the unique index and is
dropped; a crash leaves the event pending and recovery handles it. Fewer transactions and
statements per event are what throughput is made of; on SQLite these short statements also run
on the event loop's thread (`short_statements`).

What differs between channels is a `Source`: how a batch of stored payloads is handled inside
the transaction, network questions asked before it, which errors mean "wait" or "malformed",
and what happens once it is committed. `MessageSource` is the common case, a payload that turns
into one `InboundMessage` for the conversation. If one event of a batch fails, the batch is
rolled back and each is handled alone, so a bad one holds back none; an event that fails alone
is marked failed once, with a reason that never quotes it.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.core import untrusted
from bot.core.conversation import Conversation
from bot.core.delivery.arrivals import BATCH, Waiter, recover_pending, store_and_answer
from bot.core.delivery.outbox import Outbox, QueuedReply, ReplyBuffer
from bot.core.instance import this_instance
from bot.core.messages import InboundMessage
from bot.metrics import Metrics
from storage.db import DB_ERRORS, short_statements
from storage.models import utcnow
from storage.recovery import LogThrottle, periodic, recovery_loop
from storage.repositories.conversation import ConversationLog
from storage.repositories.customers import CustomerRepository
from storage.repositories.events import InboundEventRepository

log = logging.getLogger(__name__)
Payload = dict[str, Any]


class Source:
    """One kind of stored event (`inbound_events.source`) and how it is handled. The hooks
    other than `handle` default to nothing."""

    name: str  # inbound_events.source: "telegram", "vk", "http:shop"
    label: str  # the metrics label: the channel's name
    waits_on: tuple[type[BaseException], ...] = ()  # left pending: recovery tries again

    async def handle(self, session: AsyncSession, payloads: Sequence[Payload]) -> list[ReplyBuffer]:
        """Handle these events inside the transaction; one buffer of replies per event."""
        raise NotImplementedError

    def must_ask_first(self, payload: Payload) -> bool:
        """True: this event needs an answer from the network first; it is handled on its own
        after `ask_first`, so the rest of its batch does not wait."""
        return False

    def chat_of(self, payload: Payload) -> str | None:
        """The chat the event belongs to: one chat's events are handled in the order they were
        stored, by one instance at a time (None: no order to keep)."""
        return None

    def text_of(self, payload: Payload) -> str | None:
        """What the customer typed, if anything: its meaning is prepared before the batch's
        transaction (`Conversation.prepare`)."""
        return None

    async def ask_first(self, payloads: Sequence[Payload]) -> None:
        """Network questions the handler needs, asked before the transaction begins (a slow
        platform must never hold the database)."""

    async def after_commit(self, payload: Payload) -> None:
        """Once the event's transaction is committed, before its replies are sent."""

    def malformed(self, exc: BaseException) -> str | None:
        """The failure reason if `exc` says the payload itself is broken (logged without a
        traceback, which could quote it); None for any other error."""
        return None


Prepare = Callable[[AsyncSession, Payload], Awaitable[InboundMessage | None]]
AfterCommit = Callable[[Payload], None]


class MessageSource(Source):
    """A channel whose stored payload becomes one `InboundMessage` for the conversation (HTTP,
    VK, WhatsApp). `prepare` may read and write the channel's own state in the transaction."""

    def __init__(
        self,
        name: str,
        label: str,
        prepare: Prepare,
        conversation: Conversation,
        after_commit: AfterCommit | None = None,
        chat_of: Callable[[Payload], str | None] | None = None,
        text_of: Callable[[Payload], str | None] | None = None,
    ) -> None:
        self.name = name
        self.label = label
        self._prepare = prepare
        self._conversation = conversation
        self._after_commit = after_commit
        self._chat_of = chat_of
        self._text_of = text_of

    def chat_of(self, payload: Payload) -> str | None:
        return None if self._chat_of is None else self._chat_of(payload)

    def text_of(self, payload: Payload) -> str | None:
        return None if self._text_of is None else self._text_of(payload)

    async def handle(self, session: AsyncSession, payloads: Sequence[Payload]) -> list[ReplyBuffer]:
        messages = [await self._prepare(session, payload) for payload in payloads]
        # The batch's customers with their open tickets in one query per channel.
        people: dict[str, set[str]] = {}
        for message in messages:
            if message is not None:
                people.setdefault(message.channel, set()).add(message.external_id)
        customers = CustomerRepository(session)
        for channel, external_ids in people.items():
            await customers.preload(channel, external_ids)
        buffers = []
        for message in messages:
            buffer = ReplyBuffer()
            if message is not None:
                outcome = await self._conversation.handle(session, message)
                buffer.extend(message.channel, message.external_id, outcome.replies)
                buffer.add_posts(list(outcome.posts))
            buffers.append(buffer)
        return buffers

    async def after_commit(self, payload: Payload) -> None:
        if self._after_commit is not None:
            self._after_commit(payload)


@dataclass
class _Ready:
    event_id: int
    source: Source
    payload: Payload
    recovered: bool = False  # checked to be still pending in its handling transaction

    @property
    def chat(self) -> str | None:
        return chat_key(self.source, self.payload)


def chat_key(source: Source, payload: Payload) -> str | None:
    """inbound_events.chat_key: the source's name and its chat, bounded to the column."""
    chat = source.chat_of(payload)
    return None if chat is None else f"{source.name}:{chat}"[:160]


class InboundQueue:
    def __init__(
        self,
        session_pool: async_sessionmaker[AsyncSession],
        outbox: Outbox,
        metrics: Metrics,
        *,
        batch: int = 64,
        recovery_interval: float = 15.0,
        owner: str = "",
        lease_seconds: float = 30.0,
        sole: bool = False,
        alone: Callable[[], bool] | None = None,
        prepare: Callable[[list[str]], Awaitable[None]] | None = None,
        prepare_seconds: float = 2.0,
    ) -> None:
        # Events this instance stores or claims are leased to it (renewed every third of the
        # lease while it lives); another instance's recovery takes them only once the lease
        # has run out. `sole`: the only instance there can be (SQLite), no claims needed.
        self.owner = owner or this_instance()
        self._lease = timedelta(seconds=lease_seconds)
        self._sole = sole
        # No other instance runs now (bot.peers): no chat order to keep with anyone.
        self._alone = alone or (lambda: sole)
        # What a batch's questions mean, worked out before its transaction, waited for at most
        # `prepare_seconds` (what is not ready by then is ranked in the transaction as before).
        self._prepare = prepare
        self._prepare_seconds = prepare_seconds
        self._throttle = LogThrottle(log)  # an overload would otherwise log every batch
        self._free_at: datetime | None = None  # when events another instance holds come free
        self._renewal: asyncio.Task[None] | None = None
        self._pool = session_pool
        self._outbox = outbox
        self._metrics = metrics
        self._batch = batch
        self._recovery_interval = recovery_interval
        self._sources: dict[str, Source] = {}
        self._arrivals: list[tuple[Source, str, str, str | None, Waiter]] = []
        self._storing: asyncio.Task[None] | None = None
        self._ready: list[_Ready] = []
        self._in_flight: dict[int, str] = {}  # event id -> its source's name
        self._waiting: Counter[str] = Counter()  # per source: being stored or in flight
        self._handling: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        # Per recipient, the last task sending it replies: the next waits for it.
        self._last_to: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._recovery: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    def register(self, source: Source) -> None:
        self._sources[source.name] = source

    def backlog(self, source: str) -> int:
        """Events of `source` acknowledged (or being stored) and not yet handled: what a
        route's back-pressure is measured by."""
        return self._waiting[source]

    # Storing ---------------------------------------------------------------------------------

    async def accept(
        self, source: str, key: str, payload: Payload, *, raw: str | None = None
    ) -> int | None:
        """Store one arrival (`raw`: the JSON text it was parsed from, stored as is) and
        schedule it; returns its event id, or None for a key stored before (a redelivery).
        Database errors propagate: the route answers 503 and the platform sends it again."""
        known = self._sources[source]
        future: Waiter = asyncio.get_running_loop().create_future()
        text = raw if raw is not None else json.dumps(payload, ensure_ascii=False)
        self._arrivals.append((known, key, text, chat_key(known, payload), future))
        self._waiting[known.name] += 1
        if self._storing is None or self._storing.done():
            self._storing = asyncio.create_task(self._store_arrivals())
        try:
            event_id = await future
        finally:
            self._waiting[known.name] -= 1
        if event_id is None:
            self._metrics.updates_duplicate.labels(known.label).inc()
            return None
        self._metrics.updates_received.labels(known.label).inc()
        self.schedule(event_id, known, payload)
        return event_id

    async def _store_arrivals(self) -> None:
        with short_statements():
            while self._arrivals:
                batch, self._arrivals = self._arrivals[:BATCH], self._arrivals[BATCH:]
                by_source: dict[str, list[tuple[str, str, str | None, Waiter]]] = {}
                for source, key, text, chat, waiter in batch:
                    by_source.setdefault(source.name, []).append((key, text, chat, waiter))
                for name, items in by_source.items():
                    await store_and_answer(
                        self._pool,
                        name,
                        [(key, text) for key, text, _, _ in items],
                        [waiter for _, _, _, waiter in items],
                        self._lease_now(),
                        [chat for _, _, chat, _ in items],
                    )

    # Handling --------------------------------------------------------------------------------

    def schedule(
        self, event_id: int, source: Source, payload: Payload, *, recovered: bool = False
    ) -> bool:
        """Queue a stored event for handling; False if it is in hand already."""
        if event_id in self._in_flight:
            return False
        self._in_flight[event_id] = source.name
        self._waiting[source.name] += 1
        self._ready.append(_Ready(event_id, source, payload, recovered))
        if self._handling is None or self._handling.done():
            self._handling = self._track(self._handle_ready())
        return True

    def _done_with(self, item: _Ready) -> None:
        if self._in_flight.pop(item.event_id, None) is not None:
            self._waiting[item.source.name] -= 1

    async def _handle_ready(self) -> None:
        with short_statements():
            while self._ready:
                batch, self._ready = self._ready[: self._batch], self._ready[self._batch :]
                batch = self._set_aside_questions(batch)
                try:
                    await self._process_batch(batch)
                finally:
                    for item in batch:
                        self._done_with(item)

    def _set_aside_questions(self, batch: list[_Ready]) -> list[_Ready]:
        """Events that need the network first are handled on their own, after the answer:
        the rest of the batch does not wait for it."""
        rest = []
        for item in batch:
            if item.source.must_ask_first(item.payload):
                self._track(self._ask_then_process(item))
            else:
                rest.append(item)
        return rest

    async def _ask_then_process(self, item: _Ready) -> None:
        try:
            await item.source.ask_first([item.payload])
            with short_statements():
                await self._process_one(item)
        finally:
            self._done_with(item)

    async def _process_batch(self, batch: list[_Ready]) -> None:
        if not batch:
            return
        started = time.perf_counter()
        by_source: dict[str, list[_Ready]] = {}
        for item in batch:
            by_source.setdefault(item.source.name, []).append(item)
        for items in by_source.values():
            await items[0].source.ask_first([item.payload for item in items])
        await self._prepare_questions(batch)
        handled: list[tuple[_Ready, list[QueuedReply]]] = []
        # Several instances: this batch's chats' order is kept with theirs.
        ordered = not self._sole and not self._alone() and any(i.chat for i in batch)
        try:
            async with self._pool() as session, session.begin():
                in_turn = await self._in_turn(session, by_source, ordered=ordered)
                # Ids for the batch's log rows in one round trip: each message and its reply
                # (taken once its events are locked, so one chat's rows are in handling order
                # across instances too).
                await ConversationLog(session).reserve_ids(2 * sum(map(len, in_turn)))
                buffers: list[tuple[_Ready, ReplyBuffer]] = []
                for items in in_turn:
                    if items:
                        source = items[0].source
                        answers = await source.handle(session, [item.payload for item in items])
                        buffers += zip(items, answers, strict=True)
                queued = await self._outbox.enqueue_many(
                    session, [(buffer, item.event_id) for item, buffer in buffers]
                )
                await InboundEventRepository(session).mark_done([i.event_id for i, _ in buffers])
                ahead = {}
                if ordered:
                    ahead = await self._outbox.queued_elsewhere(
                        session, [r for q in queued for r in q]
                    )
            handled = [(item, q) for (item, _), q in zip(buffers, queued, strict=True)]
        except DB_ERRORS:
            log.warning("database unavailable while handling %d events", len(batch))
            return
        except Exception as exc:
            # Someone's event broke its handler: nothing was committed. Each alone, so the
            # others go through and the broken one is recorded (and said, since a batch that
            # always fails costs every event a transaction of its own).
            log.warning(
                "a batch of %d events failed (%s); handling each alone",
                len(batch),
                type(exc).__name__,
            )
            for item in batch:
                await self._process_one(item)
            return
        self._after(handled, time.perf_counter() - started, ahead)

    async def _prepare_questions(self, batch: list[_Ready]) -> None:
        """The batch's questions' meaning, in one model call off the event loop, bounded: a
        burst is understood as fully as a quiet hour, and waits a little longer instead."""
        if self._prepare is None or self._prepare_seconds <= 0:
            return  # 0: not prepared; each question ranked on its own in the transaction
        texts = [text for item in batch if (text := item.source.text_of(item.payload))]
        if not texts:
            return
        try:
            # The model's thread runs on past the bound: its vectors serve the next asks.
            await asyncio.wait_for(asyncio.shield(self._prepare(texts)), self._prepare_seconds)
        except TimeoutError:
            self._metrics.faq_prepare_late.inc()
            self._throttle.warning(
                "prepare late",
                "a batch's questions were not understood within %ss",
                self._prepare_seconds,
            )
        except Exception:
            self._throttle.warning(
                "prepare failed",
                "preparing a batch's questions failed; ranking them one by one",
                exc_info=True,
            )

    async def _in_turn(
        self,
        session: AsyncSession,
        by_source: dict[str, list[_Ready]],
        *,
        ordered: bool,
        take: bool = True,
    ) -> list[list[_Ready]]:
        """Per source, what to handle in this transaction, in order. Alone: the batch's
        events, less recovered ones handled since recovery read them. `ordered` (several
        instances): of the batch's events those still pending (a fresh one too may have been
        handled by whoever handled a later event of its chat), and (`take`) before them their
        chats' earlier events still pending elsewhere, stored by another instance that has not
        got to them yet: whoever handles a chat's later event handles its earlier ones first,
        and that instance then finds them done. The rows are locked in id order, so of two
        instances wanting one chat's events one waits for the other's commit, and they never
        wait on each other in a circle."""
        if not ordered:
            return [await _still_pending(session, items) for items in by_source.values()]
        mine = {item.event_id: item for items in by_source.values() for item in items}
        chats = sorted({c for item in mine.values() if (c := item.chat)}) if take else []
        sources = {items[0].source.name: items[0].source for items in by_source.values()}
        in_turn: dict[str, list[_Ready]] = {name: [] for name in by_source}
        events = InboundEventRepository(session)
        for event_id, name, payload in await events.pending_in_turn(list(mine), chats):
            if payload is None:
                in_turn[name].append(mine[event_id])
                continue
            source = sources.get(name) or self._sources.get(name)
            if source is None:
                continue  # a channel this instance does not run
            earlier = _Ready(event_id, source, json.loads(payload), recovered=True)
            if not source.must_ask_first(earlier.payload):  # its owner asks, then handles
                in_turn.setdefault(name, []).append(earlier)
        return list(in_turn.values())

    async def _process_one(self, item: _Ready) -> None:
        started = time.perf_counter()
        source = item.source
        try:
            await source.ask_first([item.payload])
            async with self._pool() as session, session.begin():
                ordered = not self._sole and not self._alone() and item.chat is not None
                (in_turn,) = await self._in_turn(
                    session, {source.name: [item]}, ordered=ordered, take=False
                )
                if not in_turn:
                    return
                (buffer,) = await source.handle(session, [item.payload])
                queued = await self._outbox.enqueue(session, buffer, item.event_id)
                await InboundEventRepository(session).mark_done([item.event_id])
        except DB_ERRORS:
            log.warning("database unavailable while handling event %s", item.event_id)
            return
        except source.waits_on as exc:
            log.warning("event %s waits: %s", item.event_id, type(exc).__name__)
            return
        except Exception as exc:
            # An event whose handler raised will raise again: failed at once (the transient
            # causes are caught above), once in the log.
            self._metrics.updates_failed.labels(source.label).inc()
            reason = source.malformed(exc)
            if reason is not None:
                log.warning("event %s failed: %s", item.event_id, reason)
            else:
                reason = untrusted.failure_reason(exc)
                log.error("handling event %s failed: %s", item.event_id, reason, exc_info=exc)
            await self._record_failure(item.event_id, reason)
            return
        self._after([(item, queued)], time.perf_counter() - started)

    async def _record_failure(self, event_id: int, reason: str) -> None:
        """Final: the reason names the failure, never the event's contents."""
        try:
            async with self._pool() as session, session.begin():
                await InboundEventRepository(session).mark_failed(event_id, reason, final=True)
        except DB_ERRORS:
            log.warning("could not record failure of event %s", event_id)

    def _after(
        self,
        handled: list[tuple[_Ready, list[QueuedReply]]],
        elapsed: float,
        ahead: dict[tuple[str, str], list[int]] | None = None,
    ) -> None:
        """After commit, beside the next batch: each event's follow-up, then its replies, in
        order per recipient (behind this instance's earlier batches' replies to them, and the
        first after the rows another instance queued for them before, `ahead`) and side by
        side across recipients."""
        seen: set[tuple[str, str]] = set()
        for item, replies in handled:
            self._metrics.updates_handled.labels(item.source.label).inc()
            self._metrics.handle_seconds.labels(item.source.label).observe(elapsed)
            chats = {(r.channel, r.recipient) for r in replies}
            earlier = {self._last_to[c] for c in chats if c in self._last_to}
            behind = [i for c in chats - seen for i in (ahead or {}).get(c, ())]
            seen |= chats
            task = self._track(self._finish(item, replies, earlier, behind))
            for chat in chats:
                self._last_to[chat] = task
                task.add_done_callback(functools.partial(self._forget_last, chat))

    def _forget_last(self, chat: tuple[str, str], task: asyncio.Task[None]) -> None:
        if self._last_to.get(chat) is task:
            del self._last_to[chat]

    async def _finish(
        self,
        item: _Ready,
        replies: list[QueuedReply],
        earlier: set[asyncio.Task[None]],
        behind: list[int] | None = None,
    ) -> None:
        if earlier:
            await asyncio.wait(earlier)
        if behind:
            await self._outbox.wait_sent(behind)
        await item.source.after_commit(item.payload)
        if replies:
            await self._outbox.deliver(replies)

    def _track(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # Recovery and lifecycle ------------------------------------------------------------------

    def _schedule_recovered(self, source: Source, event_id: int, payload: Payload) -> bool:
        return self.schedule(event_id, source, payload, recovered=True)

    def _lease_now(self) -> tuple[str, datetime]:
        return self.owner, utcnow() + self._lease

    async def renew_leases(self) -> None:
        """Keep this instance's pending events its own, and note when events another
        instance holds come free (a dead instance's are taken then)."""
        if self._sole:
            return
        async with self._pool() as session, session.begin():
            events = InboundEventRepository(session)
            await events.renew(self._lease_now())
            self._free_at = await events.held_elsewhere_until(self.owner, utcnow())

    async def recover(self, min_age: float = 0.0) -> int:
        """Schedule every pending event older than `min_age` seconds that no live instance
        holds (and a dead instance's, whatever their age), claimed for this one; returns how
        many. They are handled in batches, as new ones are (see
        bot.core.delivery.arrivals.recover_pending)."""
        await self.renew_leases()
        count = 0
        for name, source in self._sources.items():
            count += await recover_pending(
                self._pool,
                name,
                min_age,
                functools.partial(self._schedule_recovered, source),
                self._in_flight.keys(),
                self._lease_now,
                stopping=self._stopping,
                sole=self._sole,
            )
        return count

    async def drain(self) -> None:
        """Wait until every scheduled event has been handled (tests and shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def start(self) -> None:
        self._stopping.clear()

        def sooner() -> float | None:
            """A killed instance's events are handled as soon as its lease has run out."""
            if self._free_at is None:
                return None
            return (self._free_at - utcnow()).total_seconds() + 0.05

        self._recovery = asyncio.create_task(
            recovery_loop(
                self.recover,
                self._recovery_interval,
                "pending events",
                log,
                stop=self._stopping,
                sooner=sooner,
            )
        )
        self._renewal = asyncio.create_task(
            periodic(
                self.renew_leases,
                lambda: self._lease.total_seconds() / 3,
                "inbound lease renewal",
                log,
                stop=self._stopping,
            )
        )

    async def stop(self) -> None:
        """The recovery loop ends between passes (a cancel inside a query can leave the
        driver's connection half closed); what is being handled finishes."""
        self._stopping.set()
        for loop in (self._recovery, self._renewal):
            if loop is not None:
                await asyncio.gather(loop, return_exceptions=True)
        await self.drain()
        if not self._sole:  # what is left pending is anybody's now, not after the lease
            try:
                async with self._pool() as session, session.begin():
                    await InboundEventRepository(session).release(self.owner, utcnow())
            except DB_ERRORS:
                log.warning("inbound leases not given up at stop: they run out by themselves")


async def _still_pending(session: AsyncSession, batch: list[_Ready]) -> list[_Ready]:
    """Recovered events handled since recovery read them are left out."""
    recovered = [item.event_id for item in batch if item.recovered]
    if not recovered:
        return batch
    pending = await InboundEventRepository(session).still_pending(recovered)
    return [item for item in batch if not item.recovered or item.event_id in pending]
