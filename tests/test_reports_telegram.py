"""Reports in Telegram: /report for admins and the monthly report, text and a PNG chart."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from bot.app import monthly_report
from storage import sqlite_driver
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
        (
            "NPS  +25.0 ± 81.3  N=4: promoters 2, passives 1, detractors 1"
            "  * low confidence (N &lt; 30)"
        ),
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
