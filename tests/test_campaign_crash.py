"""A real `otklik run` process is SIGKILLed in the middle of a campaign; the next process
resumes: nobody is skipped, and only messages on the wire at the kill can arrive twice."""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter

from sqlalchemy import select

from bot.campaigns import service
from storage.db import create_session_pool
from storage.models import Delivery, utcnow
from storage.repositories.customers import CustomerRepository
from tests.conftest import AppFactory, Database, free_port, spawn_bot
from tests.fake_telegram import FakeTelegram

RECIPIENTS = 60


async def test_kill_mid_delivery_then_resume(
    fake_tg: FakeTelegram, database: Database, start_app: AppFactory
):
    async with create_session_pool(database.engine)() as session, session.begin():
        customers = CustomerRepository(session)
        for number in range(RECIPIENTS):
            await customers.get_or_create("telegram", str(7000 + number), f"C{number}", "ru")
        await service.create_survey(session, "nps", "nps", False, "{}")
        await service.create_campaign(
            session, name="crash", survey_name="nps", run_at=utcnow(), quiet="off"
        )
    port = free_port()
    process = spawn_bot(database, fake_tg.base_url, port, OTKLIK__CAMPAIGNS__RATE_PER_SECOND="20")
    try:
        deadline = time.monotonic() + 60
        while len(fake_tg.survey_chats()) < RECIPIENTS // 3:
            assert time.monotonic() < deadline, "the campaign never started"
            assert process.poll() is None, "otklik run exited"
            await asyncio.sleep(0.02)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    before_kill = len(fake_tg.survey_chats())
    async with create_session_pool(database.engine)() as session:
        at_kill = Counter((await session.execute(select(Delivery.status))).scalars().all())
    print("\nat kill:", dict(at_kill))
    assert before_kill < RECIPIENTS  # killed mid-delivery

    # The killed process queued its deliveries on the real clock: so must the one that resumes.
    app = await start_app(clock=utcnow, campaigns={"rate_per_second": 0})
    deadline = time.monotonic() + 30
    while len(set(fake_tg.survey_chats())) < RECIPIENTS:
        assert time.monotonic() < deadline, "resume never finished"
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)
    counts = Counter(fake_tg.survey_chats())
    duplicates = sum(n - 1 for n in counts.values())
    print(f"\nkilled after {before_kill} sends; duplicates after resume: {duplicates}")
    assert set(counts) == {7000 + n for n in range(RECIPIENTS)}  # nobody skipped
    assert duplicates <= 16  # at most one claimed batch in flight (concurrency 16)
    async with create_session_pool(database.engine)() as session:
        statuses = Counter((await session.execute(select(Delivery.status))).scalars().all())
    assert statuses == {"sent": RECIPIENTS}
    await app.stop()
