"""What an outage or a crash leaves pending is handled at once, at the handling rate: one
recovery pass takes every pending update (page by page, through the same batches as new
updates) and every unsent reply, instead of a slice per 15-second check; and the platform's new
updates are accepted meanwhile, not refused as a full backlog."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import timedelta
from typing import Any

from sqlalchemy import event, func, select

from bot.core.delivery.outbox import reply_to_payload
from bot.core.messages import Reply
from storage.db import create_session_pool
from storage.models import InboundEvent, OutboxMessage, utcnow
from storage.repositories.events import InboundEventRepository
from tests.conftest import AppFactory, Database
from tests.fake_telegram import FakeTelegram

PENDING = 1100  # more than a pass used to take (1,000), and several recovery pages
UNLIMITED = {"sends_per_second": 100_000}  # the test is about recovery, not the send pace
ONE_PASS = {"recovery_seconds": 3600.0}  # only the start-up pass runs during the test


async def _count(database: Database, statement: Any) -> int:
    async with create_session_pool(database.engine)() as session:
        return int(await session.scalar(statement) or 0)


async def _until_count(database: Database, statement: Any, expected: int, what: str) -> None:
    deadline = time.monotonic() + 120  # a bound for a stall, not a speed claim
    while (found := await _count(database, statement)) != expected:
        assert time.monotonic() < deadline, f"{what}: {found} of {expected}"
        await asyncio.sleep(0.1)


async def test_every_pending_update_is_handled_in_one_pass_in_batches(
    start_app: AppFactory, fake_tg: FakeTelegram, faq_loaded: Database
):
    updates = [fake_tg.message_update(20_000 + n, "как отменить заказ") for n in range(PENDING)]
    async with create_session_pool(faq_loaded.engine)() as session, session.begin():
        await InboundEventRepository(session).store_many(
            "telegram", [(str(u["update_id"]), json.dumps(u)) for u in updates]
        )
    transactions = 0

    def began(_conn: Any) -> None:
        nonlocal transactions
        transactions += 1

    engine = faq_loaded.new_engine()
    event.listen(engine.sync_engine, "begin", began)
    app = await start_app(engine=engine, telegram=UNLIMITED, outbox=ONE_PASS)
    # New updates while the backlog is recovered are taken, not answered 503 (the backlog
    # limit is 512: recovery keeps what it holds to a page).
    fresh = [fake_tg.message_update(30_000 + n, "как отменить заказ") for n in range(20)]
    assert {await fake_tg.deliver(u) for u in fresh} == {200}
    done = select(func.count()).where(InboundEvent.status == "done")
    await _until_count(faq_loaded, done, PENDING + len(fresh), "updates handled")
    await app.drain()
    # Handled as new updates are, many to a transaction: one by one it took two each.
    assert transactions < PENDING / 2, transactions
    sent = {int(c.params["chat_id"]) for c in fake_tg.calls_of("sendMessage")}
    assert len(sent) == PENDING + len(fresh)


async def test_every_unsent_reply_is_sent_in_one_pass(
    start_app: AppFactory, fake_tg: FakeTelegram, faq_loaded: Database
):
    long_ago = utcnow() - timedelta(minutes=10)
    payload = reply_to_payload(Reply("ответ после перезапуска"))
    async with create_session_pool(faq_loaded.engine)() as session, session.begin():
        session.add_all(
            OutboxMessage(
                channel="telegram",
                recipient=str(40_000 + n),
                payload=payload,
                created_at=long_ago,
            )
            for n in range(PENDING)
        )
    await start_app(telegram=UNLIMITED, outbox=ONE_PASS)
    sent = select(func.count()).where(OutboxMessage.status == "sent")
    await _until_count(faq_loaded, sent, PENDING, "replies sent")
    per_chat = {int(c.params["chat_id"]) for c in fake_tg.calls_of("sendMessage")}
    assert len(per_chat) == len(fake_tg.calls_of("sendMessage")) == PENDING
