"""Outgoing webhooks: what happened, told to the integrations that asked.

`emit` queues one delivery per subscribed webhook in the transaction of the event itself (a
ticket made, resolved; a survey answered; a detractor), so an event is never told without having
happened, nor lost when it did. `WebhookSender` posts them after: signed like the generic HTTP
channel (`X-Otklik-Signature: v1=HMAC-SHA256("<timestamp>.<body>")`, with `X-Otklik-Event` and
`X-Otklik-Delivery`), 2xx is done, anything else is tried again with back-off until the attempts
run out. Each delivery is claimed by one process with a conditional update.

The URL is an admin's, so the post is guarded (`public_targets`): only public addresses unless
the operator allowed more, no redirects followed, and only the status (never the body that
came back) kept in `last_error`. A removed webhook's pending deliveries are cancelled."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.core.delivery.outbox import RetryPolicy
from bot.core.delivery.public_targets import GuardedResolver, TargetPolicy, refusal_of
from bot.core.delivery.signing import signed_headers
from storage.db import DB_ERRORS, short_statements
from storage.models import SurveyResponse, Webhook, WebhookDelivery, utcnow

log = logging.getLogger(__name__)
EVENTS = ("ticket.created", "ticket.resolved", "survey.answered", "survey.detractor")
LEASE = timedelta(seconds=60)  # a process that dies mid-post leaves it to another after this


async def emit(session: AsyncSession, event: str, payload: dict[str, Any]) -> int:
    """Queue `event` for every webhook that wants it; returns how many."""
    hooks = (
        await session.execute(
            select(Webhook.id, Webhook.events).where(Webhook.removed_at.is_(None))
        )
    ).all()
    wanted = [hook_id for hook_id, events in hooks if event in events.split(",")]
    if not wanted:
        return 0
    now = utcnow()
    body = json.dumps(
        {"event": event, "at": now.isoformat(), "data": payload}, ensure_ascii=False, default=str
    )
    for hook_id in wanted:
        session.add(
            WebhookDelivery(
                webhook_id=hook_id,
                event=event,
                payload=body,
                status="pending",
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
        )
    return len(wanted)


async def survey_answered(session: AsyncSession, response: SurveyResponse) -> None:
    """survey.answered for every scored answer, and survey.detractor for an NPS of 0-6."""
    if response.score is None:
        return
    data = {
        "kind": response.kind,
        "score": response.score,
        "campaign_id": response.campaign_id,
        "ticket_id": response.ticket_id,
        "customer_id": response.customer_id,  # empty for anonymous surveys
        "channel": response.channel,
    }
    await emit(session, "survey.answered", data)
    if response.kind == "nps" and response.score <= 6:
        await emit(session, "survey.detractor", data)


class WebhookSender:
    def __init__(
        self,
        pool: async_sessionmaker[AsyncSession],
        retry: RetryPolicy,
        *,
        interval: float = 1.0,
        timeout: float = 10.0,
        policy: TargetPolicy | None = None,
        dns: AbstractResolver | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._pool = pool
        self._policy = policy or TargetPolicy()
        self._dns = dns  # the system's resolver unless given
        self._retry = retry
        self._interval = interval
        self._timeout = timeout
        self._clock = clock
        self._http: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    def start(self) -> None:
        self._stopping.clear()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        if self._http is not None:
            await self._http.close()

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                while await self.run_once():
                    pass
            except DB_ERRORS:
                log.warning("webhooks: database unavailable")
            except Exception:
                log.exception("webhooks: a pass failed; going on")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._interval)

    async def run_once(self, limit: int = 20) -> int:
        """Post the deliveries due now (each claimed by this process); how many were tried."""
        now = utcnow()
        with short_statements():
            async with self._pool() as session, session.begin():
                due = (
                    await session.execute(
                        select(WebhookDelivery.id, WebhookDelivery.next_attempt_at)
                        .where(
                            WebhookDelivery.status == "pending",
                            WebhookDelivery.next_attempt_at <= now,
                        )
                        .order_by(WebhookDelivery.id)
                        .limit(limit)
                    )
                ).all()
            claimed = [d for d in due if await self._claim(d[0], d[1], now)]
        for delivery_id in (d[0] for d in claimed):
            await self._post(delivery_id)
        return len(claimed)

    async def _claim(self, delivery_id: int, seen: datetime, now: datetime) -> bool:
        """Move the delivery's next attempt past the lease, if no one else did first."""
        async with self._pool() as session, session.begin():
            result = await session.execute(
                update(WebhookDelivery)
                .where(
                    WebhookDelivery.id == delivery_id,
                    WebhookDelivery.status == "pending",
                    WebhookDelivery.next_attempt_at == seen,
                )
                .values(next_attempt_at=now + LEASE)
            )
            return bool(getattr(result, "rowcount", 0))

    async def _post(self, delivery_id: int) -> None:
        async with self._pool() as session:
            row = (
                await session.execute(
                    select(WebhookDelivery, Webhook)
                    .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
                    .where(WebhookDelivery.id == delivery_id)
                )
            ).first()
        if row is None:
            return
        delivery, hook = row
        if hook.removed_at is not None:
            await cancel_pending(self._pool, hook.id)
            return
        body = delivery.payload.encode()
        headers = {
            "Content-Type": "application/json",
            "X-Otklik-Event": delivery.event,
            "X-Otklik-Delivery": str(delivery.id),
            **signed_headers(hook.secret, body, self._clock()),
        }
        status, error, refused = await self._deliver(hook.url, body, headers)
        attempts = delivery.attempts + 1
        done = error is None
        # A refused target stays refused: trying again changes nothing.
        gave_up = not done and (refused or attempts >= self._retry.max_attempts)
        async with self._pool() as session, session.begin():
            await session.execute(
                update(WebhookDelivery)
                .where(  # a removal while it was posted has cancelled it: that stands
                    WebhookDelivery.id == delivery.id, WebhookDelivery.status == "pending"
                )
                .values(
                    attempts=attempts,
                    last_status=status,
                    last_error=error,
                    status="sent" if done else ("failed" if gave_up else "pending"),
                    sent_at=utcnow() if done else None,
                    next_attempt_at=utcnow() + self._retry.delay(attempts),
                )
            )

    async def _deliver(
        self, url: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int | None, str | None, bool]:
        """POST once: the status, what went wrong in words of our own (None when 2xx), and
        whether the target policy refused it."""
        refused = self._policy.url_refusal(url)
        if refused is not None:
            return None, f"refused: {refused}", True
        if self._http is None or self._http.closed:
            connector = aiohttp.TCPConnector(resolver=GuardedResolver(self._policy, self._dns))
            self._http = aiohttp.ClientSession(connector=connector, trust_env=False)
        timeout = aiohttp.ClientTimeout(total=self._timeout)
        try:
            async with self._http.post(
                url, data=body, headers=headers, timeout=timeout, allow_redirects=False
            ) as answer:
                if 200 <= answer.status < 300:
                    return answer.status, None, False
                return answer.status, f"HTTP {answer.status}", False
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            refused = refusal_of(exc)
            if refused is not None:
                return None, f"refused: {refused}", True
            if isinstance(exc, TimeoutError):
                return None, f"no answer within {self._timeout:g} s", False
            return None, f"could not connect ({type(exc).__name__})", False


async def cancel_pending(pool: async_sessionmaker[AsyncSession], webhook_id: int) -> int:
    """Stop what is still to be tried for a removed webhook; how many were stopped."""
    async with pool() as session, session.begin():
        return await cancel_pending_in(session, webhook_id)


async def cancel_pending_in(session: AsyncSession, webhook_id: int) -> int:
    result = await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.webhook_id == webhook_id, WebhookDelivery.status == "pending")
        .values(status="cancelled", last_error="the webhook was removed")
    )
    return int(getattr(result, "rowcount", 0) or 0)
