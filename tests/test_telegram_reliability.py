"""Polling mode, crash recovery with a real killed process, database outage, 429 and 403."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.engine import make_url

from bot.channels.telegram.sender import CHANNEL as TELEGRAM
from storage.db import create_engine, create_session_pool
from storage.models import ConversationMessage, Customer, InboundEvent, OutboxMessage
from storage.repositories.events import InboundEventRepository
from tests.conftest import PG_URL, SPAWN_WITHIN, AppFactory, Database, free_port, spawn_bot
from tests.fake_telegram import FakeTelegram
from tests.tcp_proxy import TcpProxy


async def _scalar(database: Database, statement):  # type: ignore[no-untyped-def]
    async with database.engine.connect() as conn:
        return (await conn.execute(statement)).scalar_one()


async def test_polling_mode_answers_and_confirms_offsets(
    start_app: AppFactory, fake_tg: FakeTelegram, faq_loaded: Database
):
    app = await start_app(telegram_mode="polling")
    first = fake_tg.message_update(321, "как отменить заказ")
    fake_tg.queue_update(first)
    fake_tg.queue_update(first)  # Telegram may hand the same update out twice
    await fake_tg.wait_for("sendMessage", 1)
    await asyncio.sleep(0.2)
    await app.drain()
    assert fake_tg.calls_of("deleteWebhook")
    assert len(fake_tg.sent_texts(321)) == 1
    assert "Отменить" in fake_tg.sent_texts(321)[0]
    # The next getUpdates confirmed the offset past the stored update.
    offsets = [c.params.get("offset") for c in fake_tg.calls_of("getUpdates")]
    assert str(first["update_id"] + 1) in {str(o) for o in offsets}
    assert await _scalar(faq_loaded, select(func.count()).select_from(InboundEvent)) == 1


async def test_429_on_reply_waits_retry_after(
    start_app: AppFactory, fake_tg: FakeTelegram, faq_loaded: Database
):
    app = await start_app()
    fake_tg.fail_next("sendMessage", 429, retry_after=1)
    await fake_tg.deliver(fake_tg.message_update(42, "/start"))
    await app.drain()
    first, second = fake_tg.calls_of("sendMessage")
    assert second.at - first.at >= 1.0
    assert len(fake_tg.sent_texts(42)) == 2  # the refused try and the delivered one


async def test_403_marks_customer_unreachable(
    start_app: AppFactory, fake_tg: FakeTelegram, faq_loaded: Database
):
    app = await start_app()
    fake_tg.block(43)
    await fake_tg.deliver(fake_tg.message_update(43, "/start"))
    await app.drain()
    assert len(fake_tg.calls_of("sendMessage")) == 1
    assert await _scalar(faq_loaded, select(Customer.unreachable)) is True
    assert await _scalar(faq_loaded, select(InboundEvent.status)) == "done"
    assert await _scalar(faq_loaded, select(OutboxMessage.status)) == "blocked"


def _spawn_bot(database: Database, fake_tg: FakeTelegram, port: int) -> subprocess.Popen[bytes]:
    return spawn_bot(database, fake_tg.base_url, port)


async def test_process_killed_before_reply_sent_resends_after_restart(
    fake_tg: FakeTelegram, faq_loaded: Database, start_app: AppFactory
):
    """A real `otklik run` process is SIGKILLed while its reply is on the wire; the reply was
    queued in the outbox with the event, so the next process sends it."""
    port = free_port()
    fake_tg.delays["sendMessage"] = 30  # the reply hangs on the Bot API
    process = _spawn_bot(faq_loaded, fake_tg, port)
    try:
        await fake_tg.wait_for("setWebhook", within=SPAWN_WITHIN)
        update = fake_tg.message_update(555, "как вернуть товар")
        assert await fake_tg.deliver(update) == 200
        await fake_tg.wait_for("sendMessage", 1, within=SPAWN_WITHIN)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    assert await _scalar(faq_loaded, select(OutboxMessage.status)) == "pending"

    fake_tg.delays.clear()
    app = await start_app()  # the restart: outbox recovery runs at start-up
    await fake_tg.wait_for("sendMessage", 2)
    await _until(faq_loaded, select(OutboxMessage.status), "sent")
    await app.drain()
    assert "14 дней" in fake_tg.sent_texts(555)[-1]
    count = select(func.count()).select_from(ConversationMessage)
    assert await _scalar(faq_loaded, count) == 2  # handled once, sent twice at most


async def test_update_stored_but_not_handled_is_handled_after_restart(
    fake_tg: FakeTelegram, faq_loaded: Database, start_app: AppFactory
):
    """The state a crash right after the 200 leaves: stored, pending, nothing else."""
    update = fake_tg.message_update(556, "как отменить заказ")
    async with create_session_pool(faq_loaded.engine)() as session, session.begin():
        await InboundEventRepository(session).store(
            "telegram", str(update["update_id"]), json.dumps(update)
        )
    app = await start_app()
    await fake_tg.wait_for("sendMessage", 1)
    await _until(faq_loaded, select(InboundEvent.status), "done")
    await app.drain()
    assert "Отменить" in fake_tg.sent_texts(556)[0]


async def _until(database: Database, statement, expected, within: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + within
    while await _scalar(database, statement) != expected:
        assert time.monotonic() < deadline, f"never reached {expected!r}"
        await asyncio.sleep(0.05)


@pytest.mark.skipif(not PG_URL, reason="needs PostgreSQL (OTKLIK_TEST_DATABASE_URL)")
async def test_database_outage_gives_503_and_recovers(
    start_app: AppFactory, fake_tg: FakeTelegram, database: Database
):
    target = make_url(PG_URL)
    proxy = TcpProxy(target.host or "127.0.0.1", target.port or 5432)
    await proxy.start()
    proxied = target.set(host="127.0.0.1", port=proxy.port)
    engine = create_engine(
        proxied.render_as_string(hide_password=False), connect_args=database.connect_args
    )
    app = await start_app(engine=engine)
    try:
        update = fake_tg.message_update(808, "/start")
        await proxy.cut()
        assert await fake_tg.deliver(update) == 503
        async with app.http.get(app.url + "/healthz") as resp:
            assert resp.status == 503
        await proxy.restore()
        assert await fake_tg.deliver(update) == 200  # Telegram's retry
        await app.drain()
        assert len(fake_tg.sent_texts(808)) == 1
        async with app.http.get(app.url + "/healthz") as resp:
            assert resp.status == 200
    finally:
        await proxy.cut()


async def test_recovery_skips_events_already_in_flight(
    start_app: AppFactory, fake_tg: FakeTelegram, faq_loaded: Database
):
    app = await start_app()
    inbound = app.services.inbound
    fake_tg.delays["sendMessage"] = 0.5
    await fake_tg.deliver(fake_tg.message_update(61, "/start"))
    await fake_tg.wait_for("sendMessage", 1)
    await inbound.recover()  # the event is pending and in flight: must not run twice
    await app.drain()
    assert len(fake_tg.sent_texts(61)) == 1


async def test_updates_arriving_together_are_stored_and_handled_in_batches(
    start_app: AppFactory, fake_tg: FakeTelegram, faq_loaded: Database
):
    """Group commit: concurrent arrivals share a write, a redelivery inside the same write is
    still dropped, and a broken update in a batch holds back none of the others."""
    app = await start_app()
    inbound = app.services.inbound
    good = [fake_tg.message_update(700 + n, "как отменить заказ") for n in range(6)]
    broken = {"update_id": 99_001, "message": {"message_id": 1, "chat": "not a chat"}}
    payloads = [*good, broken, good[2]]  # good[2] twice: Telegram redelivering mid-write
    statements: list[str] = []

    def count(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        if statement.startswith("INSERT INTO inbound_events"):
            statements.append(statement)

    engine = app.services.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    ids = await asyncio.gather(
        *(inbound.accept(TELEGRAM, str(p["update_id"]), p) for p in payloads)
    )
    event.remove(engine, "before_cursor_execute", count)
    assert len(statements) < len(payloads)  # stored together, not one write each
    assert ids[-1] is None and all(i is not None for i in ids[:-1])
    await app.drain()
    for n in range(6):
        (reply,) = fake_tg.sent_texts(700 + n)
        assert "Отменить" in reply
    statuses = await _scalar(
        faq_loaded,
        select(func.group_concat(InboundEvent.status))
        if faq_loaded.url.startswith("sqlite")
        else select(func.string_agg(InboundEvent.status, ",")),
    )
    assert sorted(statuses.split(",")) == ["done"] * 6 + ["failed"]


async def test_replies_to_one_chat_keep_their_order_across_a_batch(
    start_app: AppFactory, fake_tg: FakeTelegram, faq_loaded: Database
):
    app = await start_app()
    fake_tg.delays["sendMessage"] = 0.3  # the first reply is still on the wire when...
    payloads = [
        fake_tg.message_update(720, "как отменить заказ"),
        fake_tg.message_update(721, "/start"),
        fake_tg.message_update(720, "/hours"),
    ]
    await app.handle_as_one_batch(payloads)
    first, second = fake_tg.sent_texts(720)
    assert "Отменить" in first and "Сейчас" in second
    # ...so the second waited for it: sent after the first was answered, not beside it.
    calls = [c for c in fake_tg.calls_of("sendMessage") if int(c.params["chat_id"]) == 720]
    assert calls[1].at - calls[0].at >= 0.3
    # The other chat did not wait for anyone: its reply went out before chat 720's second,
    # which waited for the first to be answered (order, not a time: a busy machine delays
    # everything, not this one).
    (other,) = [c for c in fake_tg.calls_of("sendMessage") if int(c.params["chat_id"]) == 721]
    assert other.at < calls[1].at
