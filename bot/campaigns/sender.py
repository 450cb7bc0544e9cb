"""Works through the deliveries of running campaigns at the configured rate.

Rows are claimed (`queued` -> `sending`) in batches and marked as they are sent, every
`flush_interval`. After a crash, rows left in `sending` go back to the queue: the only messages
that can arrive twice are those on the wire at the moment of the crash (at most `concurrency`)
plus those sent in the last `flush_interval` whose mark was not yet written.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.campaigns.audience import quiet_until, zone_of
from bot.campaigns.surveys import survey_reply, texts_of
from bot.core.delivery.outbox import ChannelSender, SendingStopped, SendStatus
from bot.core.delivery.rate_limit import RateLimiter
from storage.db import DB_ERRORS, dialect_name
from storage.models import Campaign, Customer, Delivery, Survey, utcnow
from storage.repositories.customers import CustomerRepository

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5
FINAL = ("sent", "held", "answered", "blocked", "failed", "expired", "unseen")


class CampaignSender:
    def __init__(
        self,
        session_pool: async_sessionmaker[AsyncSession],
        senders: dict[str, ChannelSender],
        limiter: RateLimiter,
        default_zone: ZoneInfo,
        *,
        limiters: dict[str, RateLimiter] | None = None,
        batch: int = 16,
        concurrency: int = 16,
        flush_interval: float = 0.05,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._pool = session_pool
        self._senders = senders
        self._limiter = limiter
        # A channel with its own platform limit (VK, WhatsApp) paces its campaign sends on its
        # own limiter; the others share `limiter` (the Telegram token's).
        self._limiters = limiters or {}
        self.zone = default_zone
        self._batch = batch
        self._concurrency = concurrency
        self._flush = flush_interval
        self._clock = clock
        self._task: asyncio.Task[None] | None = None
        self.wake = asyncio.Event()
        self._stopping = False

    async def resume_after_crash(self) -> int:
        """Rows a killed process left `sending` go back to the queue."""
        async with self._pool() as session, session.begin():
            result = await session.execute(
                update(Delivery).where(Delivery.status == "sending").values(status="queued")
            )
        return int(getattr(result, "rowcount", 0) or 0)

    async def _claim(self, channel: str | None = None) -> list[tuple[Delivery, Survey, Campaign]]:
        now = self._clock()
        channels = [channel] if channel is not None else list(self._senders)
        async with self._pool() as session, session.begin():
            # The customer's zone comes in the same query: one statement per batch, not per row.
            statement = (
                select(Delivery, Survey, Campaign, Customer.timezone)
                .join(Campaign, Campaign.id == Delivery.campaign_id)
                .join(Survey, Survey.id == Campaign.survey_id)
                .outerjoin(Customer, Customer.id == Delivery.customer_id)
                .where(
                    Campaign.status == "running",
                    Delivery.status == "queued",
                    Delivery.not_before <= now,
                    Delivery.channel.in_(channels),
                )
                .order_by(Delivery.id)
                .limit(self._batch)
            )
            if dialect_name(session) == "postgresql":
                statement = statement.with_for_update(of=Delivery, skip_locked=True)
            rows = (await session.execute(statement)).all()
            claimed: list[tuple[Delivery, Survey, Campaign]] = []
            for row in rows:
                delivery, survey, campaign = row.Delivery, row.Survey, row.Campaign
                zone = zone_of(row.timezone, self.zone)
                wait = quiet_until(now, zone, campaign.quiet_start, campaign.quiet_end)
                if wait is not None:
                    delivery.not_before = wait  # the message waits until morning
                    continue
                delivery.status = "sending"
                claimed.append((delivery, survey, campaign))
        return claimed

    async def run_once(self, channel: str | None = None) -> int:
        """Claim and send one batch (of one channel's deliveries, or any); returns how many
        deliveries were attempted."""
        claimed = await self._claim(channel)
        if not claimed:
            await self._finish_campaigns()
            return 0
        queue: asyncio.Queue[tuple[Delivery, Survey, Campaign]] = asyncio.Queue()
        for item in claimed:
            queue.put_nowait(item)
        pending: list[tuple[int, str, int | None, str]] = []
        last_record = time.monotonic()
        lock = asyncio.Lock()

        async def record(force: bool = False) -> None:
            # Marks are written every `flush_interval`: a crash can repeat only the messages
            # on the wire and those sent since the last mark.
            # The batch is taken before any await, so workers that reach this together do not
            # each write a batch of one; the lock keeps the writes in order.
            nonlocal pending, last_record
            if not pending or not (force or time.monotonic() - last_record >= self._flush):
                return
            batch, pending = pending, []
            last_record = time.monotonic()
            async with lock:
                await self._record(batch)

        async def worker() -> None:
            while not queue.empty():
                delivery, survey, _campaign = queue.get_nowait()
                outcome = await self._send(delivery, survey)
                # Not `pending.append(await ...)`: that binds the list before the await, and a
                # flush in between would swap it out and lose this outcome.
                pending.append(outcome)
                await record()

        await asyncio.gather(*(worker() for _ in range(min(self._concurrency, len(claimed)))))
        await record(force=True)
        return len(claimed)

    async def _send(self, delivery: Delivery, survey: Survey) -> tuple[int, str, int | None, str]:
        reply = survey_reply(
            survey.kind, texts_of(survey.texts), delivery.language, survey.anonymous, delivery.id
        )
        await self._limiters.get(delivery.channel, self._limiter).acquire(delivery.recipient)
        sent_ids: list[int] = []
        result = await self._senders[delivery.channel].send(
            delivery.recipient, reply, sent_ids=sent_ids, key=f"delivery:{delivery.id}"
        )
        message_id = sent_ids[0] if sent_ids else None
        return delivery.id, result.status.value, message_id, result.error

    async def _record(self, outcomes: list[tuple[int, str, int | None, str]]) -> None:
        """Write outcomes in a few statements: sent rows in one executemany, the rare others
        one by one."""
        now = self._clock()
        # Held: kept by the channel for a visitor who is not there now (the web chat); it
        # counts as sent once shown (storage.repositories.webchat), and expires unseen if not.
        handed = (SendStatus.SENT.value, SendStatus.HELD.value)
        sent = [(i, m, status) for i, status, m, _ in outcomes if status in handed]
        others = [o for o in outcomes if o[1] not in handed]
        async with self._pool() as session, session.begin():
            if sent:
                await session.execute(
                    update(Delivery.__table__)  # type: ignore[arg-type]
                    .where(Delivery.__table__.c.id == bindparam("delivery_id"))
                    .values(
                        status=bindparam("new_status"),
                        sent_at=now,
                        message_id=bindparam("message_id"),
                        attempts=Delivery.__table__.c.attempts + 1,
                    ),
                    [{"delivery_id": i, "message_id": m, "new_status": st} for i, m, st in sent],
                )
                ids = [i for i, _, _ in sent]
                await session.execute(
                    update(Customer)
                    .where(
                        Customer.id.in_(select(Delivery.customer_id).where(Delivery.id.in_(ids)))
                    )
                    .values(last_surveyed_at=now)
                )
            for delivery_id, status, _message_id, error in others:
                delivery = await session.get(Delivery, delivery_id)
                if delivery is None:
                    continue
                if status == SendStatus.BLOCKED.value:
                    delivery.status, delivery.error = "blocked", error
                    customer = await session.get(Customer, delivery.customer_id)
                    if customer is not None:
                        await CustomerRepository(session).mark_blocked(customer, delivery.channel)
                elif status == SendStatus.FAILED.value or delivery.attempts + 1 >= MAX_ATTEMPTS:
                    delivery.status, delivery.error = "failed", error
                else:
                    delivery.status, delivery.error = "queued", error
                    delivery.not_before = now + timedelta(seconds=2 ** min(delivery.attempts, 8))
                delivery.attempts += 1

    async def _finish_campaigns(self) -> None:
        """A one-off campaign whose every delivery is final is done."""
        async with self._pool() as session, session.begin():
            running = (
                (
                    await session.execute(
                        select(Campaign).where(
                            Campaign.status == "running", Campaign.schedule == "once"
                        )
                    )
                )
                .scalars()
                .all()
            )
            for campaign in running:
                left = await session.execute(
                    select(func.count(Delivery.id)).where(
                        Delivery.campaign_id == campaign.id,
                        Delivery.status.in_(("queued", "sending")),
                    )
                )
                if int(left.scalar_one()) == 0:
                    campaign.status = "done"
                    campaign.finished_at = self._clock()

    async def run_until_idle(self) -> int:
        """Every channel's deliveries side by side, each at its own pace, until none is due."""

        async def one(channel: str) -> int:
            total = 0
            while sent := await self.run_once(channel):
                total += sent
            return total

        return sum(await asyncio.gather(*(one(c) for c in self._senders)))

    async def run_forever(self, idle: float = 0.5) -> None:
        """One loop per channel: a slow platform (a VK community at 20 a second) never holds
        back another's sends. The loops end together: none is left running without its
        siblings (a bare gather would leave them when one ends)."""
        loops = [asyncio.create_task(self._run_channel(c, idle)) for c in self._senders]
        try:
            await asyncio.gather(*loops)
        finally:
            for loop in loops:
                loop.cancel()
            await asyncio.gather(*loops, return_exceptions=True)

    async def _run_channel(self, channel: str, idle: float) -> None:
        # Ends on `stopping` as well as on cancel: on Python 3.11 a cancel that lands as the
        # timeout below expires is turned into a TimeoutError and lost.
        while not self._stopping:
            try:
                if await self.run_once(channel):
                    continue
            except SendingStopped:
                return  # shutting down: the rest stays queued for the next process
            except DB_ERRORS:
                log.warning("campaign sender: database unavailable")
            except Exception:
                # A bug or an answer nobody expected: the loop must not die with it.
                log.exception("campaign sender (%s) failed; going on", channel)
            self.wake.clear()
            # Not asyncio.wait_for: on Python 3.11 a cancel that lands as the wait ends is
            # swallowed there, and stop() then waits for this loop forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(idle):
                    await self.wake.wait()

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self.run_forever())

    async def stop(self, grace: float = 3.0) -> None:
        """Loops end after their batch (a cancel inside a query can leave the driver's
        connection half closed); one still busy after `grace` seconds is cancelled."""
        self._stopping = True
        self.wake.set()  # every loop waiting for work looks at `stopping` now
        if self._task is not None:
            done, _ = await asyncio.wait({self._task}, timeout=grace)
            if not done:
                self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
