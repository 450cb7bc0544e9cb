"""Durable inbound queue for Telegram updates.

An update is written to SQL before Telegram gets its 200, then handled in the background in a
transaction that also marks it done. A redelivered `update_id` hits the unique key and is
dropped; a crash mid-handler leaves the row pending and a restart finishes it.

Both steps are batched (group commit): updates arriving while a write is under way are stored
together in the next one, and ready updates are handled in order, many to a transaction, with
the batch's customers loaded in one query and its log rows written in one INSERT. Fewer
transactions and statements per update are what throughput is made of; on SQLite these short
statements also run on the event loop's thread (`short_statements`). If one update in a batch
fails, the batch is rolled back and each is handled alone, so a bad one holds back none.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Coroutine
from contextlib import suppress
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.exceptions import TelegramAPIError
from aiogram.types import Update
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channels.telegram.sender import CHANNEL, customer_chat_of
from bot.channels.telegram.staff_directory import StaffCheckUnavailable, StaffDirectory
from bot.core import untrusted
from bot.core.arrivals import BATCH, Waiter, recover_pending, store_and_answer
from bot.core.outbox import Outbox, QueuedReply, ReplyBuffer
from bot.metrics import Metrics
from storage.db import DB_ERRORS, short_statements
from storage.recovery import recovery_loop
from storage.repositories.conversation import ConversationLog
from storage.repositories.customers import CustomerRepository
from storage.repositories.events import InboundEventRepository

SOURCE = "telegram"
HANDLED_KINDS = ("message", "edited_message", "callback_query")
log = logging.getLogger(__name__)


class TelegramInbox:
    def __init__(
        self,
        dispatcher: Dispatcher,
        bot: Bot,
        session_pool: async_sessionmaker[AsyncSession],
        metrics: Metrics,
        outbox: Outbox,
        *,
        recovery_interval: float = 15.0,
        batch: int = 64,
        staff: StaffDirectory | None = None,
    ) -> None:
        self._staff = staff
        self._dispatcher = dispatcher
        self._bot = bot
        self._pool = session_pool
        self._metrics = metrics
        self._outbox = outbox
        self._recovery_interval = recovery_interval
        self._batch = batch
        self._tasks: set[asyncio.Task[None]] = set()
        self._in_flight: set[int] = set()
        self._recovery: asyncio.Task[None] | None = None
        self._arrivals: list[tuple[dict[str, Any], str | None, Waiter]] = []
        self._storing: asyncio.Task[None] | None = None
        self._ready: list[tuple[int, dict[str, Any] | None]] = []
        self._handling: asyncio.Task[None] | None = None
        self._recovered: set[int] = set()
        self._stopping = asyncio.Event()

    @property
    def backlog(self) -> int:
        """Updates acknowledged (or being stored) and not yet handled."""
        return len(self._in_flight) + len(self._arrivals)

    async def accept(self, payload: dict[str, Any], raw: str | None = None) -> int | None:
        """Store an update (`raw`: the JSON text it was parsed from, stored as is); returns its
        event id, or None for a redelivery. DB errors propagate so the caller can answer 503
        and let Telegram retry."""
        future: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self._arrivals.append((payload, raw, future))
        if self._storing is None or self._storing.done():
            self._storing = asyncio.create_task(self._store_arrivals())
        event_id = await future
        if event_id is None:
            self._metrics.updates_duplicate.labels(SOURCE).inc()
        else:
            self._metrics.updates_received.labels(SOURCE).inc()
        return event_id

    async def _store_arrivals(self) -> None:
        with short_statements():
            await self._store_all_arrivals()

    async def _store_all_arrivals(self) -> None:
        while self._arrivals:
            batch, self._arrivals = self._arrivals[:BATCH], self._arrivals[BATCH:]
            events = [
                (str(payload["update_id"]), raw or json.dumps(payload, ensure_ascii=False))
                for payload, raw, _ in batch
            ]
            await store_and_answer(self._pool, SOURCE, events, [w for _, _, w in batch])

    def schedule(
        self, event_id: int, payload: dict[str, Any] | None = None, *, recovered: bool = False
    ) -> bool:
        """Queue a stored event for handling; False if it is in hand already. A `recovered`
        event is checked to be still pending in its handling transaction."""
        if event_id in self._in_flight:
            return False
        self._in_flight.add(event_id)
        if recovered:
            self._recovered.add(event_id)
        self._ready.append((event_id, payload))
        if self._handling is None or self._handling.done():
            self._handling = asyncio.create_task(self._handle_ready())
            self._tasks.add(self._handling)
            self._handling.add_done_callback(self._tasks.discard)
        return True

    async def _handle_ready(self) -> None:
        with short_statements():
            await self._handle_all_ready()

    async def _handle_all_ready(self) -> None:
        while self._ready:
            batch, self._ready = self._ready[: self._batch], self._ready[self._batch :]
            batch = self._set_aside_unknown_staff(batch)
            try:
                await self._process_batch(batch)
            finally:
                for event_id, _ in batch:
                    self._in_flight.discard(event_id)
                    self._recovered.discard(event_id)

    async def _process_batch(self, batch: list[tuple[int, dict[str, Any] | None]]) -> None:
        """Handle ready updates in one transaction; replies go out after its commit."""
        if any(payload is None for _, payload in batch):
            # Recovered events are read from SQL and handled one by one.
            for event_id, payload in batch:
                await self.process(event_id, payload)
            return
        started = time.perf_counter()
        handled: list[tuple[int, dict[str, Any], ReplyBuffer]] = []
        await self._ask_telegram_first([payload for _, payload in batch if payload is not None])
        try:
            async with self._pool() as session, session.begin():
                batch = await self._still_pending(session, batch)
                # The batch's customers and their open tickets in one query, not one per update.
                customers = {
                    chat
                    for _, payload in batch
                    if payload is not None and (chat := customer_chat_of(payload)) is not None
                }
                await CustomerRepository(session).preload(CHANNEL, customers)
                # Ids for the batch's log rows in one round trip: each message and its reply.
                await ConversationLog(session).reserve_ids(2 * len(batch))
                for event_id, payload in batch:
                    assert payload is not None
                    buffer = ReplyBuffer()
                    await self._dispatch(session, payload, buffer)
                    handled.append((event_id, payload, buffer))
                queued = await self._outbox.enqueue_many(
                    session, [(buffer, event_id) for event_id, _, buffer in handled]
                )
                await InboundEventRepository(session).mark_done([e for e, _ in batch])
        except DB_ERRORS:
            log.warning("database unavailable while handling %d events", len(batch))
            return
        except Exception as exc:
            # Someone's update broke its handler: nothing was committed. Handle each alone,
            # so the others go through and the broken one is recorded as failed. Said, since
            # a batch that always fails costs every update a transaction of its own.
            log.warning(
                "a batch of %d updates failed (%s); handling each alone",
                len(batch),
                type(exc).__name__,
            )
            for event_id, payload in batch:
                # A recovered event is read again and checked, as recovery once did.
                await self.process(event_id, None if event_id in self._recovered else payload)
            return
        elapsed = time.perf_counter() - started
        for _ in batch:
            self._metrics.updates_handled.labels(SOURCE).inc()
            self._metrics.handle_seconds.labels(SOURCE).observe(elapsed)
        # Delivery runs beside the next batch: each update's replies in order, updates side by
        # side, except that an update waits for earlier ones that wrote to the same chat.
        last_by_chat: dict[tuple[str, str], asyncio.Task[None]] = {}
        for (_, payload, _), replies in zip(handled, queued, strict=True):
            chats = {(item.channel, item.recipient) for item in replies}
            earlier = {last_by_chat[chat] for chat in chats if chat in last_by_chat}
            task = self._track(self._finish(payload, replies, earlier))
            last_by_chat.update(dict.fromkeys(chats, task))

    async def _still_pending(
        self, session: AsyncSession, batch: list[tuple[int, dict[str, Any] | None]]
    ) -> list[tuple[int, dict[str, Any] | None]]:
        """Recovered events handled since recovery read them are left out."""
        recovered = [event_id for event_id, _ in batch if event_id in self._recovered]
        if not recovered:
            return batch
        pending = await InboundEventRepository(session).still_pending(recovered)
        return [(e, p) for e, p in batch if e not in self._recovered or e in pending]

    async def _finish(
        self,
        payload: dict[str, Any],
        replies: list[QueuedReply],
        earlier: set[asyncio.Task[None]],
    ) -> None:
        if earlier:
            await asyncio.wait(earlier)
        await self._stop_spinner(payload)
        await self._outbox.deliver(replies)

    def _track(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _dispatch(
        self, session: AsyncSession, payload: dict[str, Any], buffer: ReplyBuffer
    ) -> None:
        # Kinds we do not handle (polls, reactions, future ones) are acknowledged as done.
        if any(kind in payload for kind in HANDLED_KINDS):
            update = Update.model_validate(payload, context={"bot": self._bot})
            await self._dispatcher.feed_update(self._bot, update, session=session, replies=buffer)

    async def process(self, event_id: int, payload: dict[str, Any] | None = None) -> None:
        """Handle one stored update in one transaction that also queues its replies and marks
        it done; replies are sent after commit. `payload` spares a read on the hot path."""
        started = time.perf_counter()
        buffer = ReplyBuffer()
        recovered = payload is None
        try:
            if payload is None:
                async with self._pool() as session:
                    event = await InboundEventRepository(session).get(event_id)
                    if event is None or event.status != "pending":
                        return
                    payload = json.loads(event.payload)
            await self._ask_telegram_first([payload])
            async with self._pool() as session, session.begin():
                events = InboundEventRepository(session)
                if recovered:  # another process may have handled it meanwhile
                    event = await events.get(event_id)
                    if event is None or event.status != "pending":
                        return
                await self._dispatch(session, payload, buffer)
                queued = await self._outbox.enqueue(session, buffer, event_id)
                await events.mark_done([event_id])
        except ValidationError as exc:
            # Malformed beyond repair: retrying cannot help, so give up on it at once.
            self._metrics.updates_failed.labels(SOURCE).inc()
            log.warning("event %s is not a valid Update: %s", event_id, exc.error_count())
            await self._record_failure(event_id, f"not a valid Update ({exc.error_count()} errors)")
            return
        except DB_ERRORS:
            # The database is away: leave the event pending; recovery retries it.
            log.warning("database unavailable while handling event %s", event_id)
            return
        except StaffCheckUnavailable:
            # Telegram could not say who wrote in the staff group: left pending, and recovery
            # asks again; never decided on a guess.
            log.warning("event %s waits: staff membership unknown", event_id)
            return
        except Exception as exc:
            # A handler that raised on this update will raise again: failed at once (the
            # transient causes, database and Telegram, are caught above), once in the log.
            self._metrics.updates_failed.labels(SOURCE).inc()
            reason = untrusted.failure_reason(exc)
            log.error("handling event %s failed: %s", event_id, reason, exc_info=exc)
            await self._record_failure(event_id, reason)
            return
        await self._stop_spinner(payload)
        await self._outbox.deliver(queued)
        self._metrics.updates_handled.labels(SOURCE).inc()
        self._metrics.handle_seconds.labels(SOURCE).observe(time.perf_counter() - started)

    def _set_aside_unknown_staff(
        self, batch: list[tuple[int, dict[str, Any] | None]]
    ) -> list[tuple[int, dict[str, Any] | None]]:
        """Updates whose sender Telegram must first be asked about are handled on their own,
        after the answer: the rest of the batch does not wait for the Bot API."""
        if self._staff is None:
            return batch
        staff = self._staff
        rest = []
        for event_id, payload in batch:
            users = staff.users_to_check([payload]) if payload is not None else set()
            if users and not staff.all_known(users):
                again = None if event_id in self._recovered else payload  # re-read and checked
                self._track(self._ask_then_process(event_id, again, users))
            else:
                rest.append((event_id, payload))
        return rest

    async def _ask_then_process(
        self, event_id: int, payload: dict[str, Any] | None, users: set[int]
    ) -> None:
        try:
            assert self._staff is not None
            await self._staff.prefetch(users)
            with short_statements():
                await self.process(event_id, payload)
        finally:
            self._in_flight.discard(event_id)
            self._recovered.discard(event_id)

    async def _ask_telegram_first(self, payloads: list[dict[str, Any]]) -> None:
        """Network questions an update's handler needs, asked before its transaction."""
        if self._staff is not None:
            users = self._staff.users_to_check(payloads)
            if users:
                await self._staff.prefetch(users)

    async def _stop_spinner(self, payload: dict[str, Any]) -> None:
        query = payload.get("callback_query")
        if not isinstance(query, dict) or "id" not in query:
            return
        with suppress(TelegramAPIError):  # a late or repeated tap: the spinner is gone anyway
            await self._bot.answer_callback_query(str(query["id"]))

    async def _record_failure(self, event_id: int, reason: str) -> None:
        """Final: the reason names the failure, never the update's contents."""
        try:
            async with self._pool() as session, session.begin():
                await InboundEventRepository(session).mark_failed(event_id, reason, final=True)
        except DB_ERRORS:
            log.warning("could not record failure of event %s", event_id)

    async def recover(self, min_age: float = 0.0) -> int:
        """Schedule every pending event older than `min_age` seconds; returns how many. They
        are handled in batches, as new updates are (see bot.core.arrivals.recover_pending)."""
        return await recover_pending(
            self._pool,
            SOURCE,
            min_age,
            lambda event_id, payload: self.schedule(event_id, payload, recovered=True),
            self._in_flight,
            stopping=self._stopping,
        )

    async def drain(self) -> None:
        """Wait until every scheduled event has been handled (tests and shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def start(self) -> None:
        self._stopping.clear()
        self._recovery = asyncio.create_task(
            recovery_loop(
                self.recover,
                self._recovery_interval,
                "pending telegram updates",
                log,
                stop=self._stopping,
            )
        )

    async def stop(self) -> None:
        """The recovery loop ends between passes (a cancel inside a query can leave the
        driver's connection half closed); what is being handled finishes."""
        self._stopping.set()
        if self._recovery is not None:
            await asyncio.gather(self._recovery, return_exceptions=True)
        await self.drain()
