"""Working hours edited in the console and over the API: stored in SQL over the file's [hours],
applied at once without a restart (the web chat's next answer about hours says so), picked up
by another instance on the same database, audited; bad input is refused with the reason and
changes nothing."""

from __future__ import annotations

import os
import re
from pathlib import Path

from sqlalchemy import select

from bot.config import HoursConfig, WeeklySchedule
from bot.core.live_hours import LiveHours
from storage.db import create_session_pool
from storage.models import AuditEntry
from tests.api_client import make_token
from tests.browser import chromium, needs_chromium, screenshot
from tests.conftest import AppFactory, Database
from tests.staff import add_staff, sign_in_page

CLOSED_WEEK = {
    "weekly": {day: [] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
    "country": "",
}
ALWAYS = "00:00-24:00"  # whatever the real clock says when the test runs, open


async def _ask_hours(app: object, session: str) -> str:
    status, body = await app.post_json(  # type: ignore[attr-defined]
        "/api/v1/chat/messages", {"session": session, "text": "когда вы работаете?"}
    )
    assert status == 200
    return " ".join(reply["text"] for reply in body["replies"])


@needs_chromium
async def test_an_admin_changes_the_hours_and_the_chat_answers_by_them(
    start_app: AppFactory, database: Database, tmp_path: Path
):

    app = await start_app(telegram_mode=None, hours=CLOSED_WEEK)
    await add_staff(database, "boss", "admin")
    assert "Сейчас закрыто" in await _ask_hours(app, "web-hours-0001")
    shots = Path(os.environ.get("OTKLIK_SCREENSHOTS", tmp_path))
    async with chromium() as browser:
        page = await browser.new_page(locale="ru-RU", viewport={"width": 1366, "height": 850})
        await page.goto(app.url + "/admin/hours")
        await sign_in_page(page)
        await page.wait_for_url(re.compile(r"/admin/hours$"))
        # A mistake is refused with the reason, and nothing changes.
        await page.fill("input[name=day_mon]", "9-18")
        async with page.expect_navigation():
            await page.get_by_role("button", name="Сохранить часы").click()
        refused = await page.locator(".flash.error").inner_text()
        assert refused.startswith("Понедельник: «9-18» — не интервал"), refused
        assert "Сейчас закрыто" in await _ask_hours(app, "web-hours-0002")

        for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun"):
            await page.fill(f"input[name=day_{day}]", ALWAYS)
        await page.fill("textarea[name=extra_holidays]", "2031-01-02 Корпоратив")
        async with page.expect_navigation():
            await page.get_by_role("button", name="Сохранить часы").click()
        assert "уже действуют" in await page.locator(".flash").inner_text()
        assert ALWAYS in await page.locator("#week").inner_text()
        assert await page.input_value("input[name=day_sun]") == ALWAYS
        await screenshot(page, str(shots / "admin-hours.png"), full_page=True)

        phone = await browser.new_page(
            locale="en-US", viewport={"width": 390, "height": 844}, is_mobile=True
        )
        await phone.context.add_cookies(await page.context.cookies())
        await phone.goto(app.url + "/admin/hours")
        assert await phone.evaluate("document.documentElement.scrollWidth") <= 390
        assert "Save hours" in await phone.locator("#edit-hours").inner_text()
        await screenshot(phone, str(shots / "admin-hours-phone.png"), full_page=True)

    answer = await _ask_hours(app, "web-hours-0003")  # no restart
    assert "Сейчас открыто" in answer, answer
    async with create_session_pool(database.engine)() as session:
        entry = (
            await session.execute(select(AuditEntry).where(AuditEntry.action == "hours.update"))
        ).scalar_one()
    assert entry.actor == "staff:boss"
    assert ALWAYS in entry.details and "Корпоратив" in entry.details


async def test_another_instance_applies_a_saved_change_and_a_restart_keeps_it(
    database: Database,
):
    """Two instances on one database (as two processes hold it): a save in one is applied by
    the other's next refresh; a new one starts with it; the file stays the default."""
    pool = create_session_pool(database.engine)
    file_config = HoursConfig(timezone="Europe/Moscow", country="")
    here, there = LiveHours(pool, file_config), LiveHours(pool, file_config)
    assert await there.refresh() is False  # nothing stored yet: the file's hours
    await here.save({"weekly": {"mon": ["10:00-14:00"]}, "reply_target_minutes": 30}, "cli")
    assert there.config.weekly.mon == ["09:00-18:00"]
    assert await there.refresh() is True
    assert there.config.weekly == WeeklySchedule(
        mon=["10:00-14:00"], tue=[], wed=[], thu=[], fri=[], sat=[], sun=[]
    )
    assert there.hours.reply_target.total_seconds() == 30 * 60
    assert await there.refresh() is False  # the same version: nothing to do
    restarted = LiveHours(pool, file_config)
    await restarted.refresh()
    assert restarted.config.reply_target_minutes == 30
    assert restarted.file_config.weekly.mon == ["09:00-18:00"]


async def test_the_api_changes_the_hours_for_admins_only(start_app: AppFactory, database: Database):
    app = await start_app(telegram_mode=None, hours={"country": ""})
    admin = {"Authorization": f"Bearer {await make_token(database, 'ops', 'admin')}"}
    agent = {"Authorization": f"Bearer {await make_token(database, 'desk', 'agent')}"}
    url = app.url + "/api/v1/hours"
    change = {"weekly": {"sat": ["10:00-15:00"]}, "extra_holidays": ["2031-03-09 Выходной"]}
    async with app.http.patch(url, json=change, headers=agent) as resp:
        assert resp.status == 403
    async with app.http.patch(url, json=change, headers=admin) as resp:
        assert resp.status == 200
        body = await resp.json()
    assert body["weekly"]["sat"] == ["10:00-15:00"]
    assert body["weekly"]["mon"] == ["09:00-18:00"]  # a day left out keeps its hours
    assert body["extra_holidays"] == ["2031-03-09 Выходной"]
    for bad, named in (
        ({"weekly": {"mon": ["25:00-26:00"]}}, "weekly.mon"),
        ({"weekly": {"someday": []}}, "weekly"),
        ({"extra_holidays": ["tomorrow"]}, "extra_holidays"),
        ({"country": "XX"}, "country"),
    ):
        async with app.http.patch(url, json=bad, headers=admin) as resp:
            assert resp.status == 422, bad
            assert named in (await resp.json())["error"], bad
    async with app.http.get(url, headers=agent) as resp:
        assert (await resp.json())["weekly"]["sat"] == ["10:00-15:00"]  # unchanged by the 422s
