"""Durable inbound queue for Telegram updates.

An update is written to SQL before Telegram gets its 200, then handled in the background in one
transaction that also marks it done. A redelivered `update_id` hits the unique key and is
dropped; a crash mid-handler leaves the row pending and a restart finishes it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from contextlib import suppress
from datetime import timedelta
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.exceptions import TelegramAPIError
from aiogram.types import Update
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.core.outbox import Outbox, ReplyBuffer
from bot.metrics import Metrics
from storage.db import DB_ERRORS
from storage.models import utcnow
from storage.recovery import recovery_loop
from storage.repositories.events import InboundEventRepository

SOURCE = "telegram"
HANDLED_KINDS = ("message", "callback_query")
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
    ) -> None:
        self._dispatcher = dispatcher
        self._bot = bot
        self._pool = session_pool
        self._metrics = metrics
        self._outbox = outbox
        self._recovery_interval = recovery_interval
        self._tasks: set[asyncio.Task[None]] = set()
        self._in_flight: set[int] = set()
        self._recovery: asyncio.Task[None] | None = None

    async def accept(self, payload: dict[str, Any]) -> int | None:
        """Store an update; returns its event id, or None for a redelivery. DB errors propagate
        so the caller can answer 503 and let Telegram retry."""
        update_id = payload["update_id"]
        async with self._pool() as session, session.begin():
            event_id = await InboundEventRepository(session).store(
                SOURCE, str(update_id), json.dumps(payload, ensure_ascii=False)
            )
        if event_id is None:
            self._metrics.updates_duplicate.labels(SOURCE).inc()
        else:
            self._metrics.updates_received.labels(SOURCE).inc()
        return event_id

    def schedule(self, event_id: int, payload: dict[str, Any] | None = None) -> None:
        if event_id in self._in_flight:
            return
        self._in_flight.add(event_id)
        task = asyncio.create_task(self._run(event_id, payload))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, event_id: int, payload: dict[str, Any] | None) -> None:
        try:
            await self.process(event_id, payload)
        finally:
            self._in_flight.discard(event_id)

    async def process(self, event_id: int, payload: dict[str, Any] | None = None) -> None:
        """Handle one stored update in one transaction that also queues its replies and marks
        it done; replies are sent after commit. `payload` spares a read on the hot path."""
        started = time.perf_counter()
        buffer = ReplyBuffer()
        try:
            async with self._pool() as session, session.begin():
                events = InboundEventRepository(session)
                if payload is None:
                    event = await events.get(event_id)
                    if event is None or event.status != "pending":
                        return
                    payload = json.loads(event.payload)
                if any(kind in payload for kind in HANDLED_KINDS):
                    update = Update.model_validate(payload, context={"bot": self._bot})
                    await self._dispatcher.feed_update(
                        self._bot, update, session=session, replies=buffer
                    )
                # Kinds we do not handle (polls, reactions, future ones) are acknowledged as done.
                queued = await self._outbox.enqueue(session, buffer, event_id)
                await events.mark_done(event_id)
        except ValidationError as exc:
            # Malformed beyond repair: retrying cannot help, so give up on it at once.
            self._metrics.updates_failed.labels(SOURCE).inc()
            log.warning("event %s is not a valid Update: %s", event_id, exc.error_count())
            await self._record_failure(event_id, exc, final=True)
            return
        except DB_ERRORS:
            # The database is away: leave the event pending; recovery retries it.
            log.warning("database unavailable while handling event %s", event_id)
            return
        except Exception as exc:
            self._metrics.updates_failed.labels(SOURCE).inc()
            log.exception("handling event %s failed", event_id)
            await self._record_failure(event_id, exc)
            return
        await self._stop_spinner(payload)
        await self._outbox.deliver(queued)
        self._metrics.updates_handled.labels(SOURCE).inc()
        self._metrics.handle_seconds.labels(SOURCE).observe(time.perf_counter() - started)

    async def _stop_spinner(self, payload: dict[str, Any]) -> None:
        query = payload.get("callback_query")
        if not isinstance(query, dict) or "id" not in query:
            return
        with suppress(TelegramAPIError):  # a late or repeated tap: the spinner is gone anyway
            await self._bot.answer_callback_query(str(query["id"]))

    async def _record_failure(self, event_id: int, exc: Exception, final: bool = False) -> None:
        try:
            async with self._pool() as session, session.begin():
                await InboundEventRepository(session).mark_failed(
                    event_id, f"{type(exc).__name__}: {exc}", final=final
                )
        except DB_ERRORS:
            log.warning("could not record failure of event %s", event_id)

    async def recover(self, min_age: float = 0.0) -> int:
        """Schedule pending events older than `min_age` seconds; returns how many."""
        cutoff = utcnow() - timedelta(seconds=min_age)
        async with self._pool() as session:
            pending = await InboundEventRepository(session).pending(SOURCE, cutoff, limit=1000)
        for event_id in pending:
            self.schedule(event_id)
        return len(pending)

    async def drain(self) -> None:
        """Wait until every scheduled event has been handled (tests and shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def start(self) -> None:
        self._recovery = asyncio.create_task(self._recovery_loop())

    async def _recovery_loop(self) -> None:
        await recovery_loop(self.recover, self._recovery_interval, "pending telegram updates", log)

    async def stop(self) -> None:
        if self._recovery is not None:
            self._recovery.cancel()
            await asyncio.gather(self._recovery, return_exceptions=True)
        await self.drain()
