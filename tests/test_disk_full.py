"""The sent-marks cannot be written while everything else works (a full disk does that: the
mark is the write that fails first after a send). Here a temporary trigger on SQLite's one
pooled connection refuses every UPDATE of the outbox with SQLite's own "database or disk is
full" text. Replies already sent are not sent again, /healthz says so, the log is not flooded,
and it all heals by itself."""

from __future__ import annotations

import asyncio
import logging

import pytest
from sqlalchemy import select

from bot.core.delivery.outbox import ReplyBuffer
from bot.core.messages import Reply
from storage.models import OutboxMessage
from tests.conftest import PG_URL, AppFactory, Database
from tests.fake_telegram import FakeTelegram


@pytest.mark.skipif(bool(PG_URL), reason="a TEMP trigger on SQLite's one connection stands in")
async def test_sent_marks_that_cannot_be_written_are_not_resent(
    start_app: AppFactory,
    fake_tg: FakeTelegram,
    database: Database,
    caplog: pytest.LogCaptureFixture,
):
    app = await start_app()
    outbox = app.services.outbox
    buffer = ReplyBuffer()
    buffer.extend("telegram", "71", [Reply("ваш ответ")])
    async with app.services.session_pool() as session, session.begin():
        queued = await outbox.enqueue(session, buffer)
    async with app.services.engine.connect() as conn:  # SQLite's one pooled connection
        await conn.exec_driver_sql(
            "CREATE TEMP TRIGGER disk_full BEFORE UPDATE ON outbox "
            "BEGIN SELECT RAISE(FAIL, 'database or disk is full'); END"
        )
        await conn.commit()
    caplog.set_level(logging.WARNING)
    await outbox.deliver(queued)
    await asyncio.sleep(1.0)  # the flush loop keeps failing meanwhile
    async with app.http.get(app.url + "/healthz") as resp:
        assert resp.status == 503
        assert (await resp.json())["database"] == "writes failing"
    for _ in range(3):
        await outbox.recover()  # must not send it again
    assert len(fake_tg.sent_texts(71)) == 1
    failures = [r for r in caplog.records if "could not mark" in r.getMessage()]
    assert 1 <= len(failures) <= 2  # not one line per 50 ms try
    async with app.services.engine.connect() as conn:
        await conn.exec_driver_sql("DROP TRIGGER temp.disk_full")
        await conn.commit()

    async def marked() -> bool:
        async with app.services.session_pool() as session:
            status = (await session.execute(select(OutboxMessage.status))).scalar_one()
        return status == "sent"

    for _ in range(100):
        if await marked():
            break
        await asyncio.sleep(0.1)
    assert await marked()
    async with app.http.get(app.url + "/healthz") as resp:
        assert resp.status == 200
    assert len(fake_tg.sent_texts(71)) == 1
