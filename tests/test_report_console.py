"""The manager reports in the web console: the same figures as the API and the CLI (the fixed
data set of tests/test_report_tickets.py), every number and bar a link to the tickets behind
it, each list as CSV; bad query values answered with the defaults, never a 500; in chromium at
desktop and phone sizes (screenshots in docs/ when OTKLIK_SCREENSHOTS names it)."""

from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path

import aiohttp
import pytest

from bot.inbox import manager_reports
from tests.browser import chromium, needs_chromium, screenshot
from tests.conftest import AppFactory, Database, RunningApp
from tests.staff import add_staff, browser_session, sign_in_agent, sign_in_page
from tests.test_report_tickets import NOW, _seed
from tests.test_web_console import _sign_in

HOURS = {"timezone": "Europe/Berlin", "country": "", "extra_holidays": ["2026-10-28"]}
WINDOW = "from=2026-10-19&to=2026-11-01&by=week"


async def _start(start_app: AppFactory, database: Database) -> RunningApp:
    await _seed(database.engine)
    await add_staff(database, "boss", "admin")
    return await start_app(clock=lambda: NOW, hours=HOURS)


async def _get(http: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    async with http.get(url) as resp:
        return resp.status, await resp.text()


async def test_numbers_link_to_their_tickets_and_every_list_is_csv(
    start_app: AppFactory, database: Database, monkeypatch: pytest.MonkeyPatch
):
    app = await _start(start_app, database)
    async with browser_session() as http:
        await _sign_in(http, app, "boss")
        status, page = await _get(http, f"{app.url}/admin/reports/tickets?{WINDOW}")
        assert status == 200
        # The breaches figure links to its two tickets; the category table to its rows.
        breaches = re.search(
            r'href="(/admin/reports/tickets/rows\?[^"]*breached=true[^"]*)">2<', page
        )
        assert breaches is not None
        status, rows = await _get(http, app.url + breaches.group(1).replace("&amp;", "&"))
        assert status == 200
        assert re.findall(r'href="/inbox/tickets/(\d+)"', rows) == ["2", "4"]
        csv_link = re.search(r'href="(/admin/reports/tickets/rows\?[^"]*format=csv[^"]*)"', rows)
        assert csv_link is not None
        async with http.get(app.url + csv_link.group(1).replace("&amp;", "&")) as resp:
            assert resp.content_type == "text/csv"
            assert "attachment" in resp.headers["Content-Disposition"]
            table = list(csv.DictReader(io.StringIO(await resp.text())))
        assert [(r["ticket"], r["breached"]) for r in table] == [("2", "True"), ("4", "True")]
        assert 'href="/admin/reports/tickets/rows?' in page and "category=delivery" in page
        # Bars of the volume chart are links too, one per week.
        assert (
            len(re.findall(r'class="bar" href="/admin/reports/tickets/rows\?[^"]*period=', page))
            == 2
        )
        # The figures as CSV: the same number as the API's.
        async with http.get(f"{app.url}/admin/reports/tickets?{WINDOW}&format=csv") as resp:
            figures = {r["figure"]: r for r in csv.DictReader(io.StringIO(await resp.text()))}
        assert figures["summary.first_response.working.median"]["value"] == "120.0"
        # And its chart as PNG, linked from the page.
        assert re.search(r'href="/admin/reports/tickets\?[^"]*format=png"', page)
        async with http.get(f"{app.url}/admin/reports/tickets?{WINDOW}&format=png") as resp:
            assert resp.content_type == "image/png"
            assert (await resp.read()).startswith(b"\x89PNG")
        for kind in ("faq", "customers"):
            status, _ = await _get(http, f"{app.url}/admin/reports/{kind}?{WINDOW}")
            assert status == 200
        # Nonsense in the query: the defaults, not an error page.
        for query in ("by=hour", "from=yesterday&to=2026-13-45", "from=2026-11-01&to=2026-10-01"):
            status, _ = await _get(http, f"{app.url}/admin/reports/tickets?{query}")
            assert status == 200, query
        status, _ = await _get(http, f"{app.url}/admin/reports/tickets/rows?breached=maybe")
        assert status == 200
        # A long list shows its first rows and says the CSV has them all.
        monkeypatch.setattr(manager_reports, "ON_PAGE", 1)
        status, rows = await _get(http, f"{app.url}/admin/reports/tickets/rows?{WINDOW}")
        assert re.findall(r'href="/inbox/tickets/(\d+)"', rows) == ["1"]
        assert "The first 1 of 4 are shown; the CSV has them all." in rows
    # Agents do not see the console's reports.
    await add_staff(database, "anna", "agent")
    async with browser_session() as http:
        await sign_in_agent(http, app.url, "anna")
        status, _ = await _get(http, f"{app.url}/admin/reports/tickets")
        assert status == 403


@needs_chromium
async def test_the_ticket_report_in_a_browser_on_a_desktop_and_a_phone(
    start_app: AppFactory, database: Database, tmp_path: Path
):

    app = await _start(start_app, database)
    shots = Path(os.environ.get("OTKLIK_SCREENSHOTS", tmp_path))
    async with chromium() as browser:
        for name, viewport, locale in (
            ("desktop", {"width": 1366, "height": 850}, "ru-RU"),
            ("phone", {"width": 390, "height": 844}, "en-US"),
        ):
            page = await browser.new_page(locale=locale, viewport=viewport)
            await page.goto(f"{app.url}/admin/reports/tickets?{WINDOW}")
            await sign_in_page(page)
            await page.wait_for_url(re.compile(r"/admin/reports/tickets"))
            await screenshot(page, str(shots / f"report-tickets-{name}.png"), full_page=True)
            # Nothing wider than the screen.
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= viewport["width"], (name, width)
            # A bar of the chart opens the tickets of its week.
            await page.click(".bar >> nth=0")
            await page.wait_for_url(re.compile(r"/admin/reports/tickets/rows"))
            assert await page.locator("a[href^='/inbox/tickets/']").count() == 2
            if name == "phone":
                await screenshot(page, str(shots / "report-rows-phone.png"))
            await page.close()
