"""Every page of the inbox and the console, in chromium, in Russian: no English word outside a
short allow-list (product and platform names, codes an admin types), and nothing wider than a
390 px phone; each page's screenshot at both sizes goes to OTKLIK_SCREENSHOTS when set."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path

from storage.db import create_session_pool
from storage.repositories.tickets import CannedRepository
from tests.browser import chromium, needs_chromium, screenshot
from tests.conftest import AppFactory, Database, RunningApp
from tests.fake_telegram import FakeTelegram
from tests.staff import add_staff, sign_in_page

STAFF_CHAT = -100555
# Words that stay as they are in a Russian interface: names of products, platforms and
# formats, and what an admin types or reads in the config file.
ALLOWED = {
    "otklik",
    "telegram",
    "whatsapp",
    "vk",
    "email",
    "e-mail",
    "api",
    "csv",
    "png",
    "json",
    "nps",
    "csat",
    "ces",
    "faq",
    "sql",
    "toml",
    "utc",
    "cli",
    "rest",
    "get",
    "post",
    "id",
    "ru",
    "en",
    "europe",
    "moscow",
    "hh",
    "mm",
    "yyyy",
    "dd",
    "otklik_report",
    "ctrl",
    "enter",
    "esc",
    "weekly",
    "country",
    "extra_holidays",
    "hours",
    "mon",
    "tue",
    "wed",
    "thu",
    "fri",
    "sat",
    "sun",
    "boss",
    "olga",
    "cron",
    "token",
    "bearer",
}
# The interface's own words: customers' messages, FAQ content, names given by the business
# (categories, rules) and codes an admin types are theirs, not the interface's.
SHOWN_TEXT = """() => {
  const found = [];
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walk.nextNode(); node; node = walk.nextNode()) {
    if (!node.parentElement.closest("code, .msg, .content, textarea, script, style")) {
      found.push(node.textContent);
    }
  }
  return found.join(" ");
}"""
PAGES = (
    "/inbox",
    "/inbox/tickets/1",
    "/admin/faq",
    "/admin/gaps",
    "/admin/campaigns",
    "/admin/reports",
    "/admin/reports/tickets",
    "/admin/reports/faq",
    "/admin/reports/customers",
    "/admin/reports/themes",
    "/admin/hours",
    "/admin/people",
    "/admin/audit",
)


async def _complaint(fake_tg: FakeTelegram, app: RunningApp, customer: int, text: str) -> None:
    for message in ("/complaint", text):
        await fake_tg.deliver(fake_tg.message_update(customer, message))
        await app.drain()


async def _cookie(page: object) -> str:
    cookies = await page.context.cookies()  # type: ignore[attr-defined]
    return "; ".join(f"{c['name']}={c['value']}" for c in cookies)


def _english(text: str) -> set[str]:
    words = {w.lower() for w in re.findall(r"[A-Za-z][A-Za-z_'-]+", text)}
    return {w for w in words if w not in ALLOWED and not w.startswith(("otklik", "http"))}


@needs_chromium
async def test_every_page_is_russian_and_fits_a_phone(
    start_app: AppFactory, fake_tg: FakeTelegram, faq_loaded: Database, tmp_path: Path
):

    fake_tg.members[8] = "member"
    app = await start_app(
        telegram={"staff_chat_id": STAFF_CHAT},
        scheduler={"enabled": False},
        clock=lambda: datetime.now(UTC),
    )
    await add_staff(faq_loaded, "boss", "admin", name="Борис")
    async with create_session_pool(faq_loaded.engine)() as session, session.begin():
        await CannedRepository(session).add("delivery", "Курьер уже в пути.")
    await _complaint(fake_tg, app, 6161, "Курьер не привёз заказ")
    shots = Path(os.environ.get("OTKLIK_SCREENSHOTS", tmp_path))
    found: dict[str, set[str]] = {}
    wide: dict[str, int] = {}
    async with chromium() as browser:
        desktop = await browser.new_page(locale="ru-RU", viewport={"width": 1366, "height": 850})
        await desktop.goto(app.url + "/inbox")
        await sign_in_page(desktop)
        await desktop.wait_for_url(re.compile(r"/inbox$"))
        phone = await browser.new_page(
            locale="ru-RU", viewport={"width": 390, "height": 844}, is_mobile=True
        )
        await phone.context.add_cookies(await desktop.context.cookies())
        for path in PAGES:
            name = path.strip("/").replace("/", "-")
            await desktop.goto(app.url + path)
            await screenshot(desktop, str(shots / f"page-{name}.png"), full_page=True)
            text = await desktop.evaluate(SHOWN_TEXT)
            title = await desktop.title()
            if english := _english(text + " " + title):
                found[path] = english
            await phone.goto(app.url + path)
            width = await phone.evaluate("document.documentElement.scrollWidth")
            if width > 390:
                wide[path] = width
            await screenshot(phone, str(shots / f"page-{name}-phone.png"), full_page=True)
        # Charts: on a phone a narrower image with larger text, titled in Russian.
        await phone.goto(app.url + "/admin/reports")
        chart = phone.locator("img.chart").first
        await chart.wait_for()
        await phone.wait_for_function("document.querySelector('img.chart').complete")
        assert await chart.evaluate("i => i.naturalWidth") == 480
        assert "size=phone" in await chart.evaluate("i => i.currentSrc")
        async with app.http.get(
            app.url + "/admin/reports/nps.png?size=phone",
            headers={"Accept-Language": "ru", "Cookie": await _cookie(phone)},
        ) as resp:
            assert resp.status == 200 and resp.content_type == "image/png"
        # A dark theme when the system asks for one.
        dark = await browser.new_page(color_scheme="dark", locale="ru-RU")
        await dark.context.add_cookies(await desktop.context.cookies())
        await dark.goto(app.url + "/inbox/tickets/1")
        background = await dark.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(15, 20, 27)", background
        await screenshot(dark, str(shots / "page-inbox-tickets-1-dark.png"), full_page=True)
        # The menu button opens the folded navigation; the current page is marked.
        await phone.goto(app.url + "/admin/hours")
        await phone.get_by_role("button", name="Меню").click()
        current = phone.locator("#site-nav a[aria-current=page]")
        assert await current.inner_text() == "Часы работы"
        assert await current.is_visible()
    for path, words in found.items():
        print(path, sorted(words))
    print("wide", wide)
    assert found == {}
    assert wide == {}
