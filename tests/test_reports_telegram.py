"""Reports in Telegram: /report for admins and the monthly report, text and a PNG chart."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.app import monthly_report
from storage.db import create_session_pool
from storage.models import SurveyResponse
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


async def test_monthly_report_goes_out_once_with_a_chart(
    start_app: AppFactory, fake_tg: FakeTelegram, database: Database
):
    await _seed(database)
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
        "NPS  +25.0 ± 81.3  N=4 (P 2, N 1, D 1)  * low confidence (N &lt; 30)",
        "CSAT: no answers in this range",
        "CES: no answers in this range",
    ]
    (chart,) = _photos(fake_tg, ADMIN)
    assert chart.startswith(PNG) and len(chart) > 1000


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
