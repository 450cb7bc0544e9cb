"""Each schedule kind with frozen time; reminder as an edit; expiry removes the buttons."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import select

from bot.app import launch_campaigns
from bot.campaigns import schedule, service
from bot.campaigns.cron import crontab_trigger
from bot.campaigns.schedule import Tick
from storage.db import create_session_pool
from storage.models import Campaign, Customer, Delivery
from tests.conftest import AppFactory, Database
from tests.fake_telegram import FakeTelegram

START = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)  # Tuesday 13:00 in Moscow


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


async def _setup(database: Database, **campaign: object) -> int:
    async with create_session_pool(database.engine)() as session, session.begin():
        await service.create_survey(session, "csat", "csat", False, "{}")
        created = await service.create_campaign(
            session,
            name="c",
            survey_name="csat",
            quiet="off",
            **campaign,  # type: ignore[arg-type]
        )
        created.created_at = START - timedelta(days=1)
        return created.id


async def _deliveries(database: Database) -> list[tuple[str, str]]:
    async with create_session_pool(database.engine)() as session:
        rows = (await session.execute(select(Delivery.recipient, Delivery.run_key))).all()
    return sorted((r, k) for r, k in rows)


async def test_cron_campaign_runs_at_each_fire_time_once(
    start_app: AppFactory, fake_tg: FakeTelegram, database: Database
):
    clock = Clock(START)
    app = await start_app(clock=clock, scheduler={"enabled": False})
    await fake_tg.deliver(fake_tg.message_update(6001, "/start"))
    await app.drain()
    # Mondays 12:00 on the business's clock ([hours] timezone Europe/Moscow) = 09:00 UTC.
    await _setup(database, cron="0 12 * * 1", throttle_days=0)
    assert await launch_campaigns(app.services) == 0  # created Monday 10:00: next is next Monday
    clock.now = datetime(2026, 11, 30, 8, 59, tzinfo=UTC)
    assert await launch_campaigns(app.services) == 0
    clock.now = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    assert await launch_campaigns(app.services) == 1
    assert await launch_campaigns(app.services) == 0  # the same run is not repeated
    clock.now = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
    assert await launch_campaigns(app.services) == 1
    assert await _deliveries(database) == [("6001", "20261130T0900"), ("6001", "20261207T0900")]


async def test_first_contact_trigger_waits_n_hours(
    start_app: AppFactory, fake_tg: FakeTelegram, database: Database
):
    clock = Clock(START)
    app = await start_app(clock=clock, scheduler={"enabled": False})
    await _setup(database, trigger="first_contact", trigger_delay_hours=72)
    await fake_tg.deliver(fake_tg.message_update(6101, "/start"))  # first contact now
    await app.drain()
    # The customer row's creation time is the real clock's; pin it to the frozen START.
    async with create_session_pool(database.engine)() as session, session.begin():
        from storage.models import Customer

        customer = (await session.execute(select(Customer))).scalar_one()
        customer.created_at = START
    clock.now = START + timedelta(hours=71)
    assert await launch_campaigns(app.services) == 0
    clock.now = START + timedelta(hours=72)
    assert await launch_campaigns(app.services) == 1
    assert await launch_campaigns(app.services) == 0
    assert await _deliveries(database) == [("6101", "")]


async def test_ticket_resolved_trigger(
    start_app: AppFactory, fake_tg: FakeTelegram, database: Database
):
    clock = Clock(START)
    app = await start_app(clock=clock, scheduler={"enabled": False})
    await _setup(database, trigger="ticket_resolved", trigger_delay_hours=2)
    for text in ("/complaint", "Сломалась дверца"):
        await fake_tg.deliver(fake_tg.message_update(6201, text))
        await app.drain()
    async with create_session_pool(database.engine)() as session, session.begin():
        from storage.repositories.tickets import TicketRepository

        ticket = await TicketRepository(session).get(1)
        assert ticket is not None
        ticket.status, ticket.resolved_at = "resolved", START
    clock.now = START + timedelta(hours=1)
    assert await launch_campaigns(app.services) == 0
    clock.now = START + timedelta(hours=2)
    assert await launch_campaigns(app.services) == 1
    assert await _deliveries(database) == [("6201", "t1")]


async def test_reminder_edits_and_expiry_closes(
    start_app: AppFactory, fake_tg: FakeTelegram, database: Database
):
    clock = Clock(START)
    app = await start_app(clock=clock, scheduler={"enabled": False})
    await fake_tg.deliver(fake_tg.message_update(6301, "/start"))
    await app.drain()
    await _setup(database, run_at=START, reminder_hours=24, expire_hours=48)
    await launch_campaigns(app.services)
    await app.services.campaigns.run_once()
    survey = fake_tg.calls_of("sendMessage")[-1]
    message_id = survey.result["message_id"]
    button = survey.params["reply_markup"]["inline_keyboard"][0][4]["callback_data"]

    clock.now = START + timedelta(hours=24)
    await launch_campaigns(app.services)
    (reminder,) = fake_tg.calls_of("editMessageText")
    assert (
        reminder.params["message_id"] == str(message_id)
        or int(reminder.params["message_id"]) == message_id
    )
    assert reminder.params["text"].startswith("Напоминание: Насколько вы довольны")
    assert reminder.params["reply_markup"]["inline_keyboard"][0][0][
        "callback_data"
    ] == button.replace(":5", ":1")
    await launch_campaigns(app.services)
    assert len(fake_tg.calls_of("editMessageText")) == 1  # one reminder only

    clock.now = START + timedelta(hours=48)
    await launch_campaigns(app.services)
    expiry = fake_tg.calls_of("editMessageText")[-1]
    assert expiry.params["text"].endswith("(опрос закрыт)")
    assert "reply_markup" not in expiry.params or not expiry.params["reply_markup"]
    await fake_tg.deliver(fake_tg.callback_update(6301, button))
    await app.drain()
    assert fake_tg.sent_texts(6301)[-1] == "Этот опрос уже закрыт. Спасибо!"
    async with create_session_pool(database.engine)() as session:
        status = (await session.execute(select(Delivery.status))).scalar_one()
    assert status == "expired"


def test_cron_hours_follow_the_business_clock_across_daylight_saving():
    berlin = ZoneInfo("Europe/Berlin")  # summer time from 2026-03-29 02:00
    trigger = crontab_trigger("0 10 * * *", berlin)
    before = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)
    first = trigger.get_next_fire_time(None, before)
    assert first is not None and first.astimezone(UTC) == datetime(2026, 3, 29, 8, 0, tzinfo=UTC)
    assert trigger.get_next_fire_time(None, datetime(2026, 3, 27, 12, 0, tzinfo=UTC)) == (
        datetime(2026, 3, 28, 10, 0, tzinfo=berlin)  # 09:00 UTC, still winter time
    )


def test_crontab_weekdays_mean_what_crontab_means():
    after = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # a Monday, after 09:00

    def next_day(expression: str) -> str:
        fire = crontab_trigger(expression).get_next_fire_time(after, after)
        assert fire is not None
        return fire.strftime("%a %d")

    assert next_day("0 9 * * 1") == "Mon 30"
    assert next_day("0 9 * * 0") == next_day("0 9 * * 7") == "Sun 29"
    assert next_day("0 9 * * 1-5") == "Tue 24"
    assert next_day("0 9 * * 6,0") == "Sat 28"
    assert next_day("0 9 * * mon") == "Mon 30"
    with pytest.raises(ValueError, match="expected 5 fields"):
        crontab_trigger("0 9 * *")


async def test_reminders_and_expiry_read_only_due_deliveries_in_pages(database: Database):
    """A tick used to load every sent delivery, due or not: 51,800 of them froze the event loop
    for 3 s every 5 s. Now only due rows are read, a page per tick."""
    now = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    pool = create_session_pool(database.engine)
    async with pool() as session, session.begin():
        await service.create_survey(session, "nps", "nps", False, "{}")
        campaign = await service.create_campaign(
            session, name="big", survey_name="nps", run_at=now, expire_hours=72, quiet="off"
        )
        campaign.status = "done"
        for number in range(7):
            customer = Customer(display_name=f"C{number}", language="ru")
            session.add(customer)
            await session.flush()
            age = timedelta(hours=80 if number < 5 else 1)  # five due, two not yet
            session.add(
                Delivery(
                    campaign_id=campaign.id,
                    customer_id=customer.id,
                    channel="telegram",
                    recipient=str(100 + number),
                    status="sent",
                    sent_at=now - age,
                    message_id=900 + number,
                )
            )
    loaded: list[int] = []

    def count_rows(instance, _context):  # type: ignore[no-untyped-def]
        if isinstance(instance, Delivery):
            loaded.append(instance.id)

    sa_event.listen(Delivery, "load", count_rows)
    try:
        ticks = []
        for _ in range(3):
            async with pool() as session, session.begin():
                result = Tick()
                await schedule._reminders_and_expiry(session, now, result, page=2)
                ticks.append(result.expired)
    finally:
        sa_event.remove(Delivery, "load", count_rows)
    assert ticks == [2, 2, 1]  # a page a tick
    assert len(loaded) == 5  # the two not yet due were never read
    async with pool() as session:
        statuses = (await session.execute(select(Delivery.status))).scalars().all()
        assert sorted(statuses) == ["expired"] * 5 + ["sent"] * 2
        assert (await session.execute(select(Campaign.status))).scalar_one() == "done"
