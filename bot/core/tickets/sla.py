"""Reply-time watch: alert the staff when a ticket's first reply is near due and when it is late,
each once. Everything it needs is in SQL (`due_at`, `alerts_sent`), so a restart neither repeats
nor forgets an alert."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import TicketsConfig
from bot.core.delivery.outbox import Outbox, ReplyBuffer
from bot.core.hours import WorkingHours
from bot.core.messages import Reply
from bot.core.tickets.service import STAFF
from storage.models import Ticket, utcnow
from storage.repositories.tickets import TicketRepository

NEAR = "near"
LATE = "late"


class SlaWatch:
    def __init__(
        self,
        session_pool: async_sessionmaker[AsyncSession],
        outbox: Outbox,
        hours: WorkingHours,
        config: TicketsConfig,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._pool = session_pool
        self._outbox = outbox
        self._hours = hours
        self._config = config
        self._clock = clock

    def near_at(self, ticket: Ticket) -> datetime | None:
        """When only `alert_before_minutes` of working time are left before the first reply."""
        target = self._config.first_response_minutes.for_priority(ticket.priority)
        lead = min(self._config.alert_before_minutes, target)
        return self._hours.deadline(ticket.created_at, timedelta(minutes=target - lead))

    async def run_once(self) -> int:
        """Queue and send the alerts that are due now; returns how many."""
        now = self._clock()
        buffer = ReplyBuffer()
        async with self._pool() as session, session.begin():
            for ticket in await TicketRepository(session).with_due_alerts():
                sent = set(filter(None, ticket.alerts_sent.split(",")))
                alert = self._alert(ticket, now, sent)
                if alert is None:
                    continue
                kind, text = alert
                ticket.alerts_sent = ",".join(sorted(sent | {kind}))
                buffer.items.append((STAFF, str(ticket.id), Reply(text)))
            queued = await self._outbox.enqueue(session, buffer)
        await self._outbox.deliver(queued)
        return len(queued)

    def _alert(self, ticket: Ticket, now: datetime, sent: set[str]) -> tuple[str, str] | None:
        assert ticket.due_at is not None
        due_local = ticket.due_at.astimezone(self._hours.zone).strftime("%d.%m %H:%M")
        if now >= ticket.due_at and LATE not in sent:
            return LATE, f"🚨 #{ticket.id}: the first reply was due {due_local} and is late."
        near_at = self.near_at(ticket)
        if near_at is not None and now >= near_at and not sent & {NEAR, LATE}:
            return NEAR, f"⏰ #{ticket.id}: the first reply is due {due_local}."
        return None
