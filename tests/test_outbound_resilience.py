"""Outbound work survives what a Bot API does on a bad day: error pages, 5xx, a staff group the
bot was removed from, a deleted topic, and replies that ran out of attempts."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from sqlalchemy import select, text, update

from bot.core.delivery.outbox import ReplyBuffer
from bot.core.messages import Reply
from storage.db import NestedSessionError, create_session_pool
from storage.models import OutboxMessage, Ticket
from storage.recovery import recovery_loop
from tests.conftest import AppFactory, Database, RunningApp
from tests.fake_telegram import FakeTelegram

STAFF_CHAT = -100555
ADMIN = 77
FAST_RETRY = {"recovery_seconds": 0.3, "retry_base_seconds": 0.2, "retry_max_seconds": 0.5}


async def _until(condition: Any, within: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + within
    while not await condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def _outbox(database: Database) -> list[OutboxMessage]:
    async with create_session_pool(database.engine)() as session:
        rows = await session.execute(select(OutboxMessage).order_by(OutboxMessage.id))
        return list(rows.scalars().all())


async def _health(app: RunningApp) -> tuple[int, dict[str, Any]]:
    async with app.http.get(app.url + "/healthz") as resp:
        return resp.status, await resp.json()


async def test_a_nested_transaction_is_refused_at_once(database: Database):
    """On SQLite a nested transaction waits a minute for the connection its caller holds."""
    pool = create_session_pool(database.engine)
    async with pool() as outer:
        await outer.execute(text("SELECT 1"))
        with pytest.raises(NestedSessionError):
            async with pool() as inner:
                await inner.execute(text("SELECT 2"))
    # One after the other is fine, and so is another task beside us.
    async with pool() as first, first.begin():
        await first.execute(text("SELECT 1"))
    async with pool() as second, second.begin():
        await second.execute(text("SELECT 2"))


async def test_a_cancelled_statement_stays_a_cancellation(database: Database):
    """SQLAlchemy calls a CancelledError a disconnect; it must not come out as a database
    outage that a background loop catches and retries (it made stop() wait forever)."""
    pool = create_session_pool(database.engine)
    started = asyncio.Event()

    async def slow() -> None:
        async with pool() as session:
            started.set()
            for _ in range(10_000):
                await session.execute(text("SELECT 1"))

    task = asyncio.create_task(slow())
    await started.wait()
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_background_loop_survives_any_error():
    calls: list[float] = []

    async def recover(_min_age: float) -> int:
        calls.append(_min_age)
        if len(calls) == 1:
            raise RuntimeError("a bug in one tick")
        if len(calls) == 2:
            raise KeyError("another")
        return 0

    import logging

    task = asyncio.create_task(recovery_loop(recover, 0.01, "things", logging.getLogger("t")))
    await _until(lambda: _ready(len(calls) >= 4), 5, "more ticks")
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def _ready(value: bool) -> bool:
    return value


async def test_a_reply_out_of_attempts_is_given_up_without_wedging_sqlite(
    start_app: AppFactory, fake_tg: FakeTelegram, faq_loaded: Database
):
    """It used to be marked through a second session while recovery held SQLite's only
    connection: a minute's wait, every tick, and the whole bot stalled behind it."""
    app = await start_app()
    outbox = app.services.outbox
    async with app.services.session_pool() as session, session.begin():
        (queued,) = await outbox.enqueue_many(session, [(_buffer("telegram", "31", "hello"), None)])
        await session.execute(
            update(OutboxMessage).where(OutboxMessage.id == queued[0].id).values(attempts=20)
        )
    await asyncio.wait_for(outbox.recover(), 5)
    (row,) = await _outbox(faq_loaded)
    assert row.status == "failed"
    assert fake_tg.sent_texts(31) == []
    status, body = await asyncio.wait_for(_health(app), 5)
    assert (status, body["status"]) == (200, "ok")


def _buffer(channel: str, recipient: str, text_: str) -> ReplyBuffer:
    buffer = ReplyBuffer()
    buffer.extend(channel, recipient, [Reply(text_)])
    return buffer


@pytest.mark.parametrize("page", ["html", "json"])
async def test_replies_arrive_after_the_bot_api_serves_error_pages(
    start_app: AppFactory, fake_tg: FakeTelegram, faq_loaded: Database, page: str
):
    """The Bot API (or a proxy in front of it) answers 502 for longer than two recovery ticks;
    every reply is kept, retried with back-off, and arrives once the API is back."""
    app = await start_app(outbox=FAST_RETRY)
    fake_tg.outage = (502, page)
    chats = list(range(9100, 9106))
    for chat in chats:
        assert await fake_tg.deliver(fake_tg.message_update(chat, "как вернуть товар")) == 200
    await app.drain()
    await asyncio.sleep(1.0)  # more than two recovery ticks of 0.3 s

    async def retried() -> bool:
        rows = await _outbox(faq_loaded)
        return all(r.status == "pending" and r.attempts >= 2 and r.error for r in rows)

    await _until(retried, 10, "failed attempts to be recorded")
    assert all("502" in (r.error or "") for r in await _outbox(faq_loaded))
    fake_tg.outage = None

    async def delivered() -> bool:
        return all(r.status == "sent" for r in await _outbox(faq_loaded))

    await _until(delivered, 10, "every reply to be sent after the outage")
    for chat in chats:
        texts = [t for t in fake_tg.sent_texts(chat)]
        assert texts and all("14 дней" in t for t in texts), texts
    ok_sends = [c for c in fake_tg.calls_of("sendMessage") if c.result is not None]
    assert len(ok_sends) == len(chats)  # each reply delivered exactly once
    assert all(not task.done() for task in app.services.outbox._tasks)


async def _staff_posts(fake: FakeTelegram) -> list[Any]:
    return [
        c
        for c in fake.calls_of("sendMessage")
        if int(c.params["chat_id"]) == STAFF_CHAT and c.result is not None
    ]


async def test_staff_posts_wait_for_a_staff_group_that_removed_the_bot(
    start_app: AppFactory, fake_tg: FakeTelegram, faq_loaded: Database
):
    fake_tg.kicked_chats.add(STAFF_CHAT)
    app = await start_app(
        telegram={"staff_chat_id": STAFF_CHAT, "admin_ids": [ADMIN]}, outbox=FAST_RETRY
    )
    for message in ("/complaint", "Курьер не приехал", "И не позвонил"):
        assert await fake_tg.deliver(fake_tg.message_update(4100, message)) == 200
        await app.drain()
    assert "принято" in fake_tg.sent_texts(4100)[1]

    async def admin_told() -> bool:
        return any("группу поддержки" in t or "staff group" in t for t in fake_tg.sent_texts(ADMIN))

    await _until(admin_told, 5, "the admin's alert")
    status, body = await _health(app)
    assert status == 200 and body["status"] == "degraded"
    assert "kicked" in body["problems"]["staff_group"]
    await asyncio.sleep(1.0)
    assert len(fake_tg.sent_texts(ADMIN)) == 1  # told once, not once per attempt

    fake_tg.kicked_chats.clear()  # the bot is added back

    async def all_posted() -> bool:
        rows = [r for r in await _outbox(faq_loaded) if r.channel == "staff"]
        return bool(rows) and all(r.status == "sent" for r in rows)

    await _until(all_posted, 10, "the staff posts after the bot is back")
    posts = await _staff_posts(fake_tg)
    texts = [str(p.params["text"]) for p in posts]
    assert "Курьер не приехал" in texts[0] and "reply_markup" in posts[0].params  # the card
    assert "И не позвонил" in texts[1]
    assert len(posts) == 2
    thread = posts[0].params["message_thread_id"]
    assert all(p.params["message_thread_id"] == thread for p in posts)
    assert len(fake_tg.calls_of("createForumTopic")) >= 1
    status, body = await _health(app)
    assert (status, body["status"]) == (200, "ok")


async def test_a_deleted_topic_is_made_anew_with_the_whole_ticket(
    start_app: AppFactory, fake_tg: FakeTelegram, faq_loaded: Database
):
    fake_tg.members[8] = "member"
    app = await start_app(telegram={"staff_chat_id": STAFF_CHAT}, outbox=FAST_RETRY)
    for message in ("/complaint", "Сломан замок"):
        await fake_tg.deliver(fake_tg.message_update(4200, message))
        await app.drain()
    assert len(fake_tg.calls_of("createForumTopic")) == 1
    old_thread = int((await _staff_posts(fake_tg))[0].params["message_thread_id"])
    await fake_tg.deliver(
        fake_tg.group_message(STAFF_CHAT, 8, "Пришлём мастера", thread_id=old_thread)
    )
    await app.drain()
    fake_tg.deleted_threads.add(old_thread)
    await fake_tg.deliver(fake_tg.message_update(4200, "Когда придёт мастер?"))
    await app.drain()

    async def reposted() -> bool:
        posts = await _staff_posts(fake_tg)
        return any("Когда придёт мастер?" in str(p.params["text"]) for p in posts)

    await _until(reposted, 5, "the message in a new topic")
    assert len(fake_tg.calls_of("createForumTopic")) == 2
    async with app.services.session_pool() as session:
        ticket = (await session.execute(select(Ticket))).scalar_one()
    assert ticket.staff_thread_id not in (None, old_thread)
    new_posts = [
        p
        for p in await _staff_posts(fake_tg)
        if int(p.params["message_thread_id"]) == ticket.staff_thread_id
    ]
    recap, message = (str(p.params["text"]) for p in new_posts)
    assert "Сломан замок" in recap and "Пришлём мастера" in recap  # the whole conversation
    assert "reply_markup" in new_posts[0].params  # the card's buttons
    assert "Когда придёт мастер?" in message


async def test_a_slow_membership_check_holds_no_customer_back(
    start_app: AppFactory, fake_tg: FakeTelegram, faq_loaded: Database
):
    """getChatMember is asked before the update's transaction: while Telegram takes 2 s to
    answer it, customers' updates are handled as usual."""
    fake_tg.members[8] = "member"
    app = await start_app(telegram={"staff_chat_id": STAFF_CHAT})
    for message in ("/complaint", "Не пришёл заказ"):
        await fake_tg.deliver(fake_tg.message_update(4300, message))
        await app.drain()
    thread = int((await _staff_posts(fake_tg))[0].params["message_thread_id"])
    fake_tg.delays["getChatMember"] = 2.0
    staff_update = fake_tg.group_message(STAFF_CHAT, 8, "Уже едет", thread_id=thread)
    await fake_tg.deliver(staff_update)
    await asyncio.sleep(0.1)  # the staff update is being handled: Telegram is being asked
    customers = list(range(4400, 4405))
    for chat in customers:
        await fake_tg.deliver(fake_tg.message_update(chat, "как вернуть товар"))

    def replies() -> list[Any]:
        return [c for c in fake_tg.calls_of("sendMessage") if int(c.params["chat_id"]) in customers]

    await _until(lambda: _ready(len(replies()) == len(customers)), 60, "the customers' replies")
    await app.drain()
    assert fake_tg.sent_texts(4300)[-1].endswith("Уже едет")
    # Not held behind Telegram's 2 s answer: every customer's reply went out before the staff
    # reply, which needed that answer (an order, not a time a busy machine could stretch).
    (relay,) = [c for c in fake_tg.calls_of("sendMessage") if "Уже едет" in str(c.params)]
    assert all(c.at < relay.at for c in replies())


async def test_an_error_from_the_membership_check_is_not_taken_for_an_answer(
    start_app: AppFactory, fake_tg: FakeTelegram, faq_loaded: Database
):
    """A transient Bot API error used to be cached as "not staff" for five minutes."""
    fake_tg.members[8] = "member"
    app = await start_app(telegram={"staff_chat_id": STAFF_CHAT})
    for message in ("/complaint", "Не пришёл заказ"):
        await fake_tg.deliver(fake_tg.message_update(4500, message))
        await app.drain()
    thread = int((await _staff_posts(fake_tg))[0].params["message_thread_id"])
    fake_tg.fail_next("getChatMember", 500, description="Internal Server Error", times=2)
    await fake_tg.deliver(fake_tg.group_message(STAFF_CHAT, 8, "Проверяем", thread_id=thread))
    await app.drain()
    staff_texts = [str(p.params["text"]) for p in await _staff_posts(fake_tg)]
    assert not any("only the support team" in t for t in staff_texts)  # no refusal on a guess
    assert await app.services.inbound.recover() == 1  # still pending, asked again
    await app.drain()
    assert fake_tg.sent_texts(4500)[-1].endswith("Проверяем")
    assert len(fake_tg.calls_of("getChatMember")) == 3  # two errors, then the answer


async def test_the_webhook_pushes_back_when_the_backlog_is_full(
    start_app: AppFactory, fake_tg: FakeTelegram, faq_loaded: Database
):
    """Updates waiting to be handled are bounded: past [telegram] max_backlog the webhook
    answers 503 with Retry-After and stores nothing, so Telegram keeps the update."""
    app = await start_app(telegram={"staff_chat_id": STAFF_CHAT, "max_backlog": 3})
    fake_tg.delays["getChatMember"] = 1.5  # three staff updates wait for Telegram's answer
    for user in (11, 12, 13):
        update = fake_tg.group_message(STAFF_CHAT, user, "привет", thread_id=1)
        assert await fake_tg.deliver(update) == 200
    customer = fake_tg.message_update(4800, "как вернуть товар")
    assert fake_tg.webhook is not None
    headers = {"X-Telegram-Bot-Api-Secret-Token": str(fake_tg.webhook["secret_token"])}
    async with app.http.post(fake_tg.webhook["url"], json=customer, headers=headers) as resp:
        assert resp.status == 503
        assert resp.headers["Retry-After"] == "1"
    await app.drain()  # Telegram answered; the backlog is gone
    assert await fake_tg.deliver(customer) == 200  # the redelivery is taken
    await app.drain()
    assert len(fake_tg.sent_texts(4800)) == 1
