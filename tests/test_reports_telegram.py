"""Reports in Telegram: /report for admins and the monthly report, text and a PNG chart."""

from __future__ import annotations

import asyncio
import io
import os
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from bot.app import monthly_report
from bot.reports.charts import FONT_FILES, font
from storage import sqlite_driver
from storage.db import create_session_pool
from storage.models import Customer, SurveyResponse, Ticket
from storage.repositories.customer_months import note_active
from storage.repositories.reports import add_response
from tests.conftest import AppFactory, Database
from tests.fake_telegram import FakeTelegram

ADMIN = 9100
PNG = b"\x89PNG\r\n\x1a\n"


async def _seed(database: Database) -> None:
    async with create_session_pool(database.engine)() as session, session.begin():
        for day, score in [(5, 10), (12, 9), (19, 3), (26, 8)]:
            await add_response(
                session,
                SurveyResponse(
                    kind="nps",
                    score=score,
                    channel="telegram",
                    created_at=datetime(2026, 10, day, 12, tzinfo=UTC),
                ),
            )


def _photos(fake: FakeTelegram, chat_id: int) -> list[bytes]:
    photos = []
    for call in fake.calls_of("sendPhoto"):
        if int(call.params["chat_id"]) == chat_id:
            # aiogram uploads as photo="attach://<part>" plus a multipart part of that name
            part = str(call.params["photo"]).removeprefix("attach://")
            photos.append(call.params[part])
    return photos


async def _seed_month_before(database: Database) -> None:
    """September: NPS -100 (four 0s), one ticket answered in an hour; October: two tickets,
    one answered in 30 minutes, one never (past due). Customer 1 wrote in September and
    October, customer 2 in September only."""
    async with create_session_pool(database.engine)() as session, session.begin():
        for day in (1, 8, 15, 22):
            await add_response(
                session,
                SurveyResponse(
                    kind="nps", score=0, channel="telegram", created_at=_utc(9, day, 12)
                ),
            )
        for id_, months in ((1, ("2026-09", "2026-10")), (2, ("2026-09",))):
            session.add(Customer(id=id_, display_name=f"c{id_}", created_at=_utc(9, 1, 0)))
            await session.flush()
            for month in months:
                await note_active(session, id_, month)
        for created, first in (
            (_utc(9, 15, 6), _utc(9, 15, 7)),
            (_utc(10, 15, 6), _utc(10, 15, 6, 30)),
            (_utc(10, 20, 6), None),
        ):
            session.add(
                Ticket(
                    customer_id=1,
                    channel="telegram",
                    subject="late parcel",
                    created_at=created,
                    updated_at=created,
                    due_at=created + timedelta(hours=2),
                    first_response_at=first,
                )
            )


def _utc(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


async def test_monthly_report_goes_out_once_with_a_chart(
    start_app: AppFactory, fake_tg: FakeTelegram, database: Database
):
    await _seed(database)
    await _seed_month_before(database)
    app = await start_app(
        clock=lambda: datetime(2026, 11, 1, 10, 0, tzinfo=UTC),
        telegram={"admin_ids": [ADMIN]},
        scheduler={"enabled": False},
    )
    assert await monthly_report(app.services) is True
    assert await monthly_report(app.services) is False  # once per month, remembered in SQL
    (text,) = fake_tg.sent_texts(ADMIN)
    assert text.startswith("Monthly report for 2026-10")
    assert text.splitlines()[1:] == [
        (
            "NPS  +25.0 ± 81.3  N=4: promoters 2, passives 1, detractors 1"
            "  * low confidence (N &lt; 30)"
        ),
        # +125 is beyond √(81.3² + 0²): significant, however few the answers.
        "  the month before -100.0; change +125.0 against a combined margin of ±81.3: significant",
        "CSAT: no answers in this range",
        "CES: no answers in this range",
        (
            "Complaints: 2 (+1 on the month before); first reply (working hours) median 30 min"
            " (-30 on the month before); within target 50% (-50 on the month before)"
        ),
        "FAQ deflection: — of 0 questions",
        "Churn: 1 of 2 customers active in 2026-09 (50%) wrote nothing in the 1 month(s) after",
    ]
    (chart,) = _photos(fake_tg, ADMIN)
    assert chart.startswith(PNG) and len(chart) > 1000
    image = Image.open(io.BytesIO(chart))
    assert image.size == (800, 760)  # the headline tiles, the NPS trend, complaints by week
    if folder := os.environ.get("OTKLIK_SCREENSHOTS"):
        await asyncio.to_thread(Path(folder, "monthly-report.png").write_bytes, chart)


async def test_manager_reports_in_telegram_come_with_their_chart_in_the_admins_language(
    start_app: AppFactory, fake_tg: FakeTelegram, database: Database
):
    await _seed(database)
    app = await start_app(telegram={"admin_ids": [ADMIN]}, scheduler={"enabled": False})
    for kind in ("tickets", "faq", "customers", "themes"):
        await fake_tg.deliver(fake_tg.message_update(ADMIN, f"/report {kind}"))
        await app.drain()
    charts = _photos(fake_tg, ADMIN)
    assert len(charts) == 4 and all(chart.startswith(PNG) for chart in charts)
    assert [Image.open(io.BytesIO(chart)).size[0] for chart in charts] == [800] * 4


@pytest.mark.skipif(
    not any(Path(p).is_file() for p in FONT_FILES), reason="no DejaVu Sans here (apt fonts-dejavu)"
)
def test_chart_text_is_drawn_in_a_font_with_cyrillic():
    """Pillow's own font draws every Cyrillic letter as the same box: two letters alike."""

    def drawn(letter: str) -> bytes:
        image = Image.new("L", (40, 40))
        ImageDraw.Draw(image).text((5, 5), letter, fill=255, font=font(24))
        return image.tobytes()

    assert drawn("Ж") != drawn("Щ")


async def test_report_command_answers_with_figures_and_chart(
    start_app: AppFactory, fake_tg: FakeTelegram, database: Database
):
    await _seed(database)
    app = await start_app(telegram={"admin_ids": [ADMIN]}, scheduler={"enabled": False})
    await fake_tg.deliver(fake_tg.message_update(ADMIN, "/report nps month"))
    await app.drain()
    assert fake_tg.sent_texts(ADMIN)[-1].startswith("2026-10-01  NPS  +25.0 ± ")
    (chart,) = _photos(fake_tg, ADMIN)
    assert chart.startswith(PNG)


async def test_report_in_a_webhook_batch_runs_in_the_driver_thread_not_on_the_loop(
    start_app: AppFactory,
    fake_tg: FakeTelegram,
    faq_loaded: Database,
    monkeypatch: pytest.MonkeyPatch,
):
    """On SQLite the batch's statements run on the event loop's thread; an admin's report in
    the same batch goes back to the driver's thread, so it cannot hold the loop."""
    if not faq_loaded.url.startswith("sqlite"):
        pytest.skip("inline statements are a SQLite matter")
    await _seed(faq_loaded)
    threads: list[tuple[str, int]] = []
    run = sqlite_driver._run

    def recording_run(conn, operation, parameters, many):  # type: ignore[no-untyped-def]
        threads.append((operation, threading.get_ident()))
        return run(conn, operation, parameters, many)

    monkeypatch.setattr(sqlite_driver, "_run", recording_run)
    app = await start_app(
        clock=lambda: datetime(2026, 11, 1, 10, 0, tzinfo=UTC), telegram={"admin_ids": [ADMIN]}
    )
    payloads = [
        fake_tg.message_update(ADMIN, "/report nps month"),
        fake_tg.message_update(4242, "как отменить заказ"),
    ]
    await app.handle_as_one_batch(payloads)
    assert fake_tg.sent_texts(ADMIN) and "Отменить" in fake_tg.sent_texts(4242)[0]
    loop_thread = threading.get_ident()
    report = {t for op, t in threads if "survey_score_days" in op}
    log = {t for op, t in threads if op.startswith("INSERT INTO conversation_messages")}
    assert report and loop_thread not in report
    assert log == {loop_thread}


async def test_report_tickets_faq_and_customers_in_telegram(
    start_app: AppFactory, fake_tg: FakeTelegram, database: Database
):
    await _seed_month_before(database)
    app = await start_app(telegram={"admin_ids": [ADMIN]}, scheduler={"enabled": False})
    for command in (
        "/report tickets",
        "/report faq month",
        "/report customers",
        "/report tickets hour",
    ):
        await fake_tg.deliver(fake_tg.message_update(ADMIN, command))
        await app.drain()
    tickets, faq, customers, refused = fake_tg.sent_texts(ADMIN)[-4:]
    # In the admin's language (Russian here): the last 30 days to the test clock's
    # 24 November, against the 30 before.
    assert tickets.startswith("Обращения с 2026-10-26 по 2026-11-24 (Europe/Moscow)")
    assert "Открыто: 0 (до этого 2, -2)" in tickets
    assert faq.startswith("Самообслуживание с 2026-10-26 по 2026-11-24")
    assert customers.startswith("Клиенты с 2026-06 по 2026-11")
    assert "2026-09: активных 2 (новых 2, вернувшихся 0), ушли после него: 1 (50%)" in customers
    assert refused.startswith("Команды администратора:")  # "hour" is no period: the help
