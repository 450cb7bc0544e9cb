"""Expected reply times and the reply-time watch, with frozen time across weekends and holidays."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select

from storage.models import Ticket
from tests.conftest import AppFactory, Database
from tests.fake_telegram import FakeTelegram

MSK = ZoneInfo("Europe/Moscow")
STAFF_CHAT = -100500


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


async def _open_ticket(app, fake: FakeTelegram, chat_id: int, text: str) -> str:  # type: ignore[no-untyped-def]
    await fake.deliver(fake.message_update(chat_id, "/complaint"))
    await app.drain()
    await fake.deliver(fake.message_update(chat_id, text))
    await app.drain()
    return fake.sent_texts(chat_id)[-1]


async def test_out_of_hours_expectation_across_weekend_and_holiday(
    start_app: AppFactory, fake_tg: FakeTelegram, database: Database
):
    clock = Clock(datetime(2026, 11, 28, 12, 0, tzinfo=MSK))  # Saturday
    app = await start_app(clock=clock, hours={"extra_holidays": ["2026-11-30"]})
    reply = await _open_ticket(app, fake_tg, 3001, "Не могу оплатить заказ")
    assert reply.endswith(
        "Сейчас мы не работаем. Откроемся во вторник в 09:00, ответим до 11:00 во вторник.\n"
        "Пишите сюда — все сообщения попадут в это обращение."
    )
    async with database.engine.connect() as conn:
        due = (await conn.execute(select(Ticket.due_at))).scalar_one()
    assert due == datetime(2026, 12, 1, 11, 0, tzinfo=MSK)


async def test_urgent_words_shorten_the_target(
    start_app: AppFactory, fake_tg: FakeTelegram, database: Database
):
    clock = Clock(datetime(2026, 11, 24, 10, 0, tzinfo=MSK))
    app = await start_app(clock=clock)
    reply = await _open_ticket(app, fake_tg, 3002, "Срочно! Списали деньги дважды")
    assert "ответим до 10:30 сегодня" in reply
    async with database.engine.connect() as conn:
        priority = (await conn.execute(select(Ticket.priority))).scalar_one()
    assert priority == "urgent"


async def test_sla_alerts_once_per_threshold_in_business_hours(
    start_app: AppFactory, fake_tg: FakeTelegram, database: Database
):
    clock = Clock(datetime(2026, 11, 27, 17, 0, tzinfo=MSK))  # Friday, one hour before closing
    app = await start_app(
        clock=clock, telegram={"staff_chat_id": STAFF_CHAT}, scheduler={"enabled": False}
    )
    reply = await _open_ticket(app, fake_tg, 3003, "Где мой заказ?")
    assert "Мы сейчас работаем, ответим до 10:00 в понедельник." in reply
    watch = app.services.sla

    def alerts() -> list[str]:
        return [t for t in fake_tg.sent_texts(STAFF_CHAT) if t[0] in "⏰🚨"]

    timeline = [
        (datetime(2026, 11, 27, 17, 59, tzinfo=MSK), 0),
        (datetime(2026, 11, 28, 12, 0, tzinfo=MSK), 0),  # Saturday: the clock stands still
        (datetime(2026, 11, 30, 9, 29, tzinfo=MSK), 0),
        (datetime(2026, 11, 30, 9, 31, tzinfo=MSK), 1),  # 30 working minutes left
        (datetime(2026, 11, 30, 9, 45, tzinfo=MSK), 1),  # no repeat
        (datetime(2026, 11, 30, 10, 1, tzinfo=MSK), 2),  # late
        (datetime(2026, 11, 30, 11, 0, tzinfo=MSK), 2),  # no repeat
    ]
    for moment, expected in timeline:
        clock.now = moment
        await watch.run_once()
        assert len(alerts()) == expected, moment
    near, late = alerts()
    assert near == "⏰ #1: the first reply is due 30.11 10:00."
    assert late == "🚨 #1: the first reply was due 30.11 10:00 and is late."
    posts = [c for c in fake_tg.calls_of("sendMessage") if int(c.params["chat_id"]) == STAFF_CHAT]
    assert {int(c.params["message_thread_id"]) for c in posts} == {500}


async def test_answered_ticket_raises_no_alert(
    start_app: AppFactory, fake_tg: FakeTelegram, database: Database
):
    fake_tg.members[7] = "member"
    clock = Clock(datetime(2026, 11, 24, 10, 0, tzinfo=MSK))
    app = await start_app(
        clock=clock, telegram={"staff_chat_id": STAFF_CHAT}, scheduler={"enabled": False}
    )
    await _open_ticket(app, fake_tg, 3004, "Вопрос по заказу")
    await fake_tg.deliver(fake_tg.group_message(STAFF_CHAT, 7, "Смотрим", thread_id=500))
    await app.drain()
    clock.now = datetime(2026, 11, 24, 18, 0, tzinfo=MSK)
    assert await app.services.sla.run_once() == 0
