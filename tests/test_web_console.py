"""The admin console beyond the FAQ editor: campaigns (audience counted before the start,
progress watched while the real scheduler sends through the fake Bot API), reports with
charts, working hours, staff accounts and API tokens, the audit log. Over real HTTP, and in a
real browser (Playwright driving Debian's chromium)."""

from __future__ import annotations

import asyncio
import os
import random
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from sqlalchemy import select

from storage.db import create_session_pool
from storage.models import Campaign, StaffAccount, SurveyResponse
from storage.repositories.api import TokenRepository
from storage.repositories.customers import CustomerRepository
from storage.repositories.reports import add_response
from tests.api_client import make_token
from tests.browser import chromium, needs_chromium, screenshot
from tests.conftest import AppFactory, Database, RunningApp, run_otklik
from tests.fake_telegram import FakeTelegram
from tests.staff import PASSWORD, add_staff, browser_session, code_for, sign_in_page

CUSTOMERS = 40


async def _staff(database: Database, login: str, role: str) -> None:
    await add_staff(database, login, role)


async def _customers(database: Database, count: int) -> None:
    async with create_session_pool(database.engine)() as session, session.begin():
        customers = CustomerRepository(session)
        for number in range(count):
            language = "en" if number % 4 == 0 else "ru"
            await customers.get_or_create("telegram", str(7100 + number), "c", language)


async def _answers(database: Database, now: datetime) -> None:
    """Twelve weeks of NPS, CSAT and CES answers, NPS rising, a thin week among them."""
    rng = random.Random(20261203)
    async with create_session_pool(database.engine)() as session, session.begin():
        for week in range(12):
            moment = now - timedelta(weeks=11 - week, hours=1)
            answers = 6 if week == 4 else 40 + 5 * week
            for _ in range(answers):
                promoter = rng.random() < 0.3 + 0.03 * week
                score = rng.choice((9, 10)) if promoter else rng.choice((3, 5, 6, 7, 8))
                await add_response(
                    session, SurveyResponse(kind="nps", score=score, created_at=moment)
                )
                await add_response(
                    session,
                    SurveyResponse(kind="csat", score=rng.choice((3, 4, 5, 5)), created_at=moment),
                )
                await add_response(
                    session,
                    SurveyResponse(kind="ces", score=rng.choice((4, 5, 6, 7)), created_at=moment),
                )


async def _sign_in(http: aiohttp.ClientSession, app: RunningApp, login: str) -> str:
    """Signs in; returns the CSRF token of the session, read from a page."""
    async with http.post(
        app.url + "/inbox/login",
        data={"login": login, "password": PASSWORD, "code": code_for(login), "next": "/inbox"},
        allow_redirects=False,
    ) as resp:
        assert resp.status == 303, await resp.text()
    async with http.get(app.url + "/inbox") as resp:
        found = re.search(r'name="csrf" value="([^"]+)"', await resp.text())
    assert found is not None
    return found.group(1)


async def test_console_pages_people_tokens_and_audit_over_http(
    start_app: AppFactory, database: Database
):
    # The real clock only: the answers are dated from it, and so is the reports' window.
    app = await start_app(
        telegram_mode=None, scheduler={"enabled": False}, clock=lambda: datetime.now(UTC)
    )
    await _staff(database, "boss", "admin")
    await _staff(database, "anna", "agent")
    await _answers(database, datetime.now(UTC))
    pages = ("/admin/campaigns", "/admin/reports", "/admin/hours", "/admin/people", "/admin/audit")
    async with browser_session() as agent, browser_session() as admin:
        await _sign_in(agent, app, "anna")
        for path in (*pages, "/admin/reports/nps.png"):
            async with agent.get(app.url + path) as resp:
                assert resp.status == 403, path  # agents never see the console
        csrf = await _sign_in(admin, app, "boss")
        for path in pages:
            async with admin.get(app.url + path, headers={"Accept-Language": "en"}) as resp:
                assert resp.status == 200, path
                assert resp.headers["Content-Security-Policy"].startswith("default-src 'self'")

        async with admin.get(app.url + "/admin/reports", params={"by": "week"}) as resp:
            reports = await resp.text()
        assert reports.count('<td class="num">40</td>') >= 1  # the first week's N
        assert "few answers" in reports  # the thin week is marked
        async with admin.get(app.url + "/admin/reports/nps.png") as resp:
            chart = await resp.read()
            assert resp.content_type == "image/png" and chart.startswith(b"\x89PNG")
        async with admin.get(app.url + "/admin/reports/weather.png") as resp:
            assert resp.status == 404
        async with admin.get(
            app.url + "/admin/reports", params={"from": "not a day", "by": "year"}
        ) as resp:
            assert resp.status == 200  # bad filters fall back to the defaults

        async with admin.get(app.url + "/admin/hours", headers={"Accept-Language": "en"}) as resp:
            hours = await resp.text()
        assert "Monday" in hours and "09:00-18:00" in hours and "Europe/Moscow" in hours

        # A staff account made in the console can sign in; a short password is refused.
        vera = {"csrf": csrf, "login": "vera", "name": "Вера", "role": "agent"}
        async with admin.post(
            app.url + "/admin/people/accounts",
            data={
                "csrf": csrf,
                "login": "vera",
                "name": "Вера",
                "role": "agent",
                "password": "short",
            },
        ) as resp:
            assert "Password: at least 10 characters" in await resp.text()
        for trivial in ("aaaaaaaaaa", "1234567890", "Password123!", "vera-vera-vera"):
            async with admin.post(
                app.url + "/admin/people/accounts", data={**vera, "password": trivial}
            ) as resp:
                assert "Password: too easy to guess" in await resp.text(), trivial
        async with admin.post(
            app.url + "/admin/people/accounts",
            data={**vera, "csrf": "forged", "password": PASSWORD},
        ) as resp:
            assert resp.status == 403
        async with admin.post(
            app.url + "/admin/people/accounts",
            data={
                "csrf": csrf,
                "login": "vera",
                "name": "Вера",
                "role": "agent",
                "password": PASSWORD,
            },
        ) as resp:
            assert resp.status == 200 and "vera added" in await resp.text()
        async with browser_session() as vera:
            await _sign_in(vera, app, "vera")

        # A token made in the console is shown once, works, and is refused once revoked.
        async with admin.post(
            app.url + "/admin/people/tokens", data={"csrf": csrf, "name": "crm", "role": "agent"}
        ) as resp:
            made = await resp.text()
        token = re.search(r"<code>(otk_[^<]+)</code>", made)
        assert token is not None
        api = {"Authorization": f"Bearer {token.group(1)}"}
        async with admin.get(app.url + "/api/v1/tickets", headers=api) as resp:
            assert resp.status == 200
        async with admin.get(app.url + "/admin/people") as resp:
            listing = await resp.text()
        assert token.group(1) not in listing  # never shown again
        revoke = re.search(r'action="(/admin/people/tokens/\d+/revoke)"', listing)
        assert revoke is not None
        async with admin.post(app.url + revoke.group(1), data={"csrf": csrf}) as resp:
            assert resp.status == 200
        async with admin.get(app.url + "/api/v1/tickets", headers=api) as resp:
            assert resp.status == 401

        # Campaigns take the CLI's schedules from the form: once at a local time, cron, trigger.
        async with admin.post(
            app.url + "/admin/surveys/new", data={"csrf": csrf, "name": "q", "kind": "csat"}
        ) as resp:
            assert resp.status == 200
        made: dict[str, str] = {}
        for when, extra in (
            ("at", {"run_at": "2030-01-01T10:00"}),
            ("cron", {"cron": "0 10 1 * *"}),
            ("trigger", {"trigger": "ticket_resolved", "delay_hours": "2"}),
            ("cron", {"cron": "every day"}),
        ):
            async with admin.post(
                app.url + "/admin/campaigns/new",
                data={"csrf": csrf, "name": f"by {when}", "survey": "q", "when": when, **extra},
                headers={"Accept-Language": "en"},
            ) as resp:
                made[extra.get("cron", when)] = (await resp.text()) if resp.url.query else ""
                assert resp.status == 200
        # Refused, with the reason on the page, in its language.
        assert "Repeat: &#39;every day&#39; is not a cron schedule" in made["every day"]
        async with create_session_pool(database.engine)() as session:
            rows = (await session.execute(select(Campaign).order_by(Campaign.id))).scalars().all()
            schedules = [
                (c.name, c.status, c.schedule, c.run_at, c.trigger_delay_hours) for c in rows
            ]
        assert schedules == [
            ("by at", "scheduled", "once", datetime(2030, 1, 1, 7, 0, tzinfo=UTC), 0),
            ("by cron", "scheduled", "cron", None, 0),
            ("by trigger", "scheduled", "trigger", None, 2),
        ]

        async with admin.get(app.url + "/admin/audit") as resp:
            audit = await resp.text()
        # Codes as words, in the page's language; the actor by login.
        for action in ("added a staff member", "created an API token", "revoked an API token"):
            assert f"<td>{action}</td>" in audit
        assert "<td>boss</td>" in audit and "staff.add" not in audit


@needs_chromium
async def test_an_admin_starts_a_campaign_and_watches_it_go_out(
    start_app: AppFactory, fake_tg: FakeTelegram, database: Database, tmp_path: Path
):
    from playwright.async_api import Error as PlaywrightError

    # The real scheduler and the real clock: the campaign is launched by the scheduler's job
    # and paced by the limiter, as in production; 40 customers at 8/s take about 5 s.
    app = await start_app(campaigns={"rate_per_second": 8}, clock=lambda: datetime.now(UTC))
    await _staff(database, "boss", "admin")
    await _customers(database, CUSTOMERS)
    await _answers(database, datetime.now(UTC))
    shots = Path(os.environ.get("OTKLIK_SCREENSHOTS", tmp_path))
    async with chromium() as browser:
        page = await browser.new_page(locale="ru-RU", viewport={"width": 1100, "height": 800})
        await page.goto(app.url + "/admin/campaigns")
        await sign_in_page(page)
        await page.wait_for_url(re.compile(r"/admin/campaigns$"))
        await page.fill("#s-name", "nps-december")
        await page.get_by_role("button", name="Создать").last.click()
        await page.wait_for_url(re.compile(r"/admin/campaigns$"))

        await page.fill("#c-name", "Декабрьский NPS")
        await page.select_option("select[name=language]", "ru")
        await page.fill("input[name=quiet]", "off")  # any hour of the day the test runs
        await page.get_by_role("button", name="Посчитать аудиторию").click()
        await page.locator("#preview").wait_for()
        assert "Получат сейчас: 30" in await page.locator("#preview").inner_text()
        assert await page.input_value("#c-name") == "Декабрьский NPS"  # the form is kept
        await page.get_by_role("button", name="Создать").first.click()
        # Sending now to everyone is asked first, with how many (in the right plural).
        await page.locator("#confirm-send").wait_for()
        assert "Опрос уйдёт 30 клиентам сейчас" in await page.locator("#confirm-send").inner_text()
        assert await page.input_value("#c-name") == "Декабрьский NPS"
        async with page.expect_navigation():
            await page.get_by_role("button", name="Да, отправить 30 клиентам").click()
        # Said once: the address loses ?done= so a reload does not repeat it.
        assert re.search(r"/admin/campaigns/\d+$", page.url)
        assert await page.locator(".flash").first.inner_text() == "Рассылка создана."

        # The page follows the sending by itself: the bar and counts move without a reload.
        await page.evaluate("window.__same_page = true")
        bar = page.locator("#campaign-progress progress")
        seen: list[int] = []
        for _ in range(300):
            try:
                value = int(await bar.evaluate("b => b.value", timeout=2000))
            except PlaywrightError:  # the page reloads itself when the state changes
                await page.wait_for_timeout(100)
                continue
            if not seen or value != seen[-1]:
                seen.append(value)
            if value and value < 30 and len(seen) == 2:
                await screenshot(page, str(shots / "admin-campaign.png"))
            if value == 30:
                break
            await page.wait_for_timeout(100)
        assert seen[-1] == 30, seen
        assert any(0 < v < 30 for v in seen), seen  # watched in progress, not only at the end
        await page.get_by_text("завершена").wait_for(timeout=10_000)  # reloaded when done
        sent = await page.locator('[data-count="sent"]').inner_text()
        assert sent == "30"

        await page.goto(app.url + "/admin/reports?by=week")
        await page.locator("#report-nps img").wait_for()
        loaded = await page.locator("#report-nps img").evaluate("i => i.naturalWidth")
        assert loaded == 800
        await screenshot(page, str(shots / "admin-reports.png"), full_page=True)
        # On a phone the console still fits: no sideways scrolling.
        phone = await browser.new_page(viewport={"width": 390, "height": 800})
        await phone.context.add_cookies(await page.context.cookies())
        for path in ("/admin/campaigns", "/admin/reports", "/admin/people", "/admin/hours"):
            await phone.goto(app.url + path)
            width = await phone.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, (path, width)
    asked = {int(c.params["chat_id"]) for c in fake_tg.calls_of("sendMessage")}
    russian = {7100 + n for n in range(CUSTOMERS) if n % 4}
    assert russian <= asked and not asked & {7100 + n for n in range(0, CUSTOMERS, 4)}


async def test_bad_ids_and_days_get_an_answer_not_a_500(start_app: AppFactory, database: Database):
    """Found by probing: "²" passed str.isdigit() and failed int(); the first and the last day
    a date can hold have no day before or after them."""
    app = await start_app(telegram_mode=None, scheduler={"enabled": False})
    await _staff(database, "boss", "admin")
    widest = "?from=0001-01-01&to=9999-12-31"
    async with browser_session() as http:
        await _sign_in(http, app, "boss")
        async with http.get(app.url + "/admin/faq/²") as resp:
            assert resp.status == 404
        for page in ("/admin/gaps", "/admin/reports"):
            async with http.get(app.url + page + widest) as resp:
                assert resp.status == 200, page
    token = await make_token(database, "reports", "admin")
    headers = {"Authorization": f"Bearer {token}"}
    for path in ("/api/v1/reports/nps", "/api/v1/reports/faq-gaps"):
        async with app.http.get(app.url + path + widest, headers=headers) as resp:
            body = await resp.json()
            assert resp.status == 422 and "from" in str(body), (path, body)


async def test_disabling_a_person_ends_their_tokens_and_their_live_page(
    start_app: AppFactory, database: Database
):
    """A token made in the console belongs to whoever made it and dies with their account;
    their open live-queue socket is closed, whichever process disabled them (here the CLI)."""
    app = await start_app(telegram_mode=None, scheduler={"enabled": False})
    await _staff(database, "boss", "admin")
    await _staff(database, "mira", "admin")
    async with browser_session() as mira:
        csrf = await _sign_in(mira, app, "mira")
        async with mira.post(
            app.url + "/admin/people/tokens",
            data={"csrf": csrf, "name": "mira-crm", "role": "admin"},
        ) as resp:
            found = re.search(r"<code>(otk_[^<]+)</code>", await resp.text())
        assert found is not None
        api = {"Authorization": f"Bearer {found.group(1)}"}
        async with app.http.get(app.url + "/api/v1/audit", headers=api) as resp:
            assert resp.status == 200
        socket = await mira.ws_connect(app.url + "/inbox/live", headers={"Origin": app.url})
        disabled = await asyncio.to_thread(
            run_otklik, database, "staff", "disable", "mira", cwd=Path.cwd()
        )
        assert disabled.returncode == 0, disabled.stderr
        assert "1 of its tokens revoked" in disabled.stdout
        async with app.http.get(app.url + "/api/v1/audit", headers=api) as resp:
            assert resp.status == 401
        message = await socket.receive(timeout=60)  # closed within SESSION_CHECK_SECONDS
        assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        await socket.close()
    # A token whose maker was disabled before tokens had owners revoked is refused as well.
    async with create_session_pool(database.engine)() as session, session.begin():
        mira_id = (
            await session.execute(select(StaffAccount.id).where(StaffAccount.login == "mira"))
        ).scalar_one()
        _, old = await TokenRepository(session).create("mira-old", "admin", owner_id=mira_id)
    async with app.http.get(
        app.url + "/api/v1/audit", headers={"Authorization": f"Bearer {old}"}
    ) as resp:
        assert resp.status == 401
