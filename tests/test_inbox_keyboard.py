"""An agent works a ticket from the queue to resolved with the keyboard only, in chromium, at a
desktop and a phone size, in Russian and English: j and Enter open it, t takes it, / opens the
canned replies and one is edited before Ctrl+Enter sends it, e resolves it, ? lists the keys;
each action says what it did. A customer's message arriving while the agent types appears
marked as new and leaves the draft alone; the queue searches, counts and sorts by due time."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from storage.db import create_session_pool
from storage.repositories.tickets import CannedRepository
from tests.browser import chromium, needs_chromium, screenshot
from tests.conftest import AppFactory, Database, RunningApp
from tests.fake_telegram import FakeTelegram
from tests.staff import PASSWORD, add_staff, browser_session

STAFF_CHAT = -100777
CUSTOMER = 5151
CANNED = "Курьер уже в пути и будет до 15:00."
SAID = {
    "ru": {
        "taken": "Обращение ваше.",
        "sent": "Отправлено.",
        "resolved": "Обращение решено",
        "new": "Новое сообщение",
        "keys": "Клавиши",
    },
    "en": {
        "taken": "The ticket is yours.",
        "sent": "Sent.",
        "resolved": "Ticket resolved",
        "new": "New message",
        "keys": "Keyboard shortcuts",
    },
}


async def _complaint(fake_tg: FakeTelegram, app: RunningApp, customer: int, text: str) -> None:
    for message in ("/complaint", text):
        await fake_tg.deliver(fake_tg.message_update(customer, message))
        await app.drain()


def _shown(html: str) -> list[str]:
    """The ticket numbers a queue page lists, in order."""
    return re.findall(r'<td data-label="#"><a href="/inbox/tickets/(\d+)">', html)


@asynccontextmanager
async def _signed_in(app: RunningApp) -> AsyncIterator[aiohttp.ClientSession]:
    """An HTTP client signed in as the agent olga (added by the test)."""
    async with browser_session() as http:
        async with http.post(
            app.url + "/inbox/login", data={"login": "olga", "password": PASSWORD}
        ) as resp:
            assert resp.status == 200
        yield http


async def _sign_in_by_keyboard(page: Any, app: RunningApp) -> None:
    """The agent olga signs in at the queue's address, Enter submitting the form."""
    await page.goto(app.url + "/inbox")
    await page.fill("#login", "olga")
    await page.fill("#password", PASSWORD)
    await page.keyboard.press("Enter")
    await page.wait_for_url(re.compile(r"/inbox$"))


async def _status(page: object) -> str:
    status = page.locator(".flash")  # type: ignore[attr-defined]
    await status.wait_for()
    return str(await status.inner_text())


@needs_chromium
@pytest.mark.parametrize("language", ["ru", "en"])
@pytest.mark.parametrize(("width", "height"), [(1366, 850), (390, 844)], ids=["desktop", "phone"])
async def test_an_agent_works_a_ticket_with_the_keyboard_only(
    start_app: AppFactory,
    fake_tg: FakeTelegram,
    faq_loaded: Database,
    tmp_path: Path,
    width: int,
    height: int,
    language: str,
):

    fake_tg.members[8] = "member"
    app = await start_app(
        telegram={"staff_chat_id": STAFF_CHAT},
        scheduler={"enabled": False},
        clock=lambda: datetime.now(UTC),
    )
    await add_staff(faq_loaded, "olga", "agent", name="Ольга")
    async with create_session_pool(faq_loaded.engine)() as session, session.begin():
        await CannedRepository(session).add("delivery", CANNED)
        await CannedRepository(session).add("thanks", "Спасибо, что написали!")
    await _complaint(fake_tg, app, CUSTOMER, "Курьер не привёз заказ 1187")
    await _complaint(fake_tg, app, CUSTOMER + 1, "Списали деньги дважды")
    said = SAID[language]
    shots = Path(os.environ.get("OTKLIK_SCREENSHOTS", tmp_path))
    size = "desktop" if width > 800 else "phone"
    async with chromium() as browser:
        page = await browser.new_page(
            locale="ru-RU" if language == "ru" else "en-US",
            viewport={"width": width, "height": height},
        )
        await _sign_in_by_keyboard(page, app)
        # The queue counts its views; the tab says how many are open.
        assert "2" in await page.locator("#views a.on .count").inner_text()
        assert (await page.title()).startswith("(2)")
        assert await page.evaluate("document.documentElement.scrollWidth") <= width
        await screenshot(page, str(shots / f"inbox-queue-{size}-{language}.png"), full_page=True)

        await page.keyboard.press("j")
        await page.keyboard.press("Enter")
        await page.wait_for_url(re.compile(r"/inbox/tickets/\d+$"))
        ticket = int(page.url.rsplit("/", 1)[1])
        async with page.expect_navigation():
            await page.keyboard.press("t")
        assert await _status(page) == said["taken"]

        await page.keyboard.press("r")
        await page.keyboard.type("/deliv")
        option = page.locator("#canned-picker [role=option]")
        await option.first.wait_for()
        assert await option.count() == 1
        await page.keyboard.press("Enter")
        assert await page.input_value("#reply") == CANNED
        await page.keyboard.type(" Номер заказа 1187.")
        async with page.expect_navigation():
            await page.keyboard.press("Control+Enter")
        assert await _status(page) == said["sent"]
        assert await page.input_value("#reply") == ""  # sent: the kept draft is dropped

        # The customer writes while the agent types: the message appears, marked, and the
        # draft stays as it was, on the same page (no reload).
        await page.evaluate("window.__same_page = true")
        await page.keyboard.press("r")
        await page.keyboard.type("Черновик: уточняю у курьера")
        customer = CUSTOMER if ticket == 1 else CUSTOMER + 1
        await fake_tg.deliver(fake_tg.message_update(customer, "А можно побыстрее?"))
        await app.drain()
        await page.locator("#messages .msg.new").wait_for(timeout=10_000)
        assert "побыстрее" in await page.locator("#messages .msg.new").last.inner_text()
        assert said["new"] in await page.locator("#new-mark").inner_text()
        assert await page.input_value("#reply") == "Черновик: уточняю у курьера"
        assert await page.evaluate("window.__same_page === true")
        # ... and survives a reload of the page.
        await page.reload()
        assert await page.input_value("#reply") == "Черновик: уточняю у курьера"
        await screenshot(page, str(shots / f"inbox-ticket-{size}-{language}.png"), full_page=True)

        await page.keyboard.press("r")
        await page.keyboard.press("Escape")  # out of the reply box, still on the ticket
        assert re.search(r"/inbox/tickets/\d+$", page.url)
        await page.keyboard.press("?")
        await page.locator("#shortcuts").wait_for()
        assert said["keys"] in await page.locator("#shortcuts").inner_text()
        await page.keyboard.press("Escape")
        assert await page.locator("#shortcuts").is_hidden()
        async with page.expect_navigation():
            await page.keyboard.press("e")
        assert (await _status(page)).startswith(said["resolved"])
        assert await page.evaluate("document.documentElement.scrollWidth") <= width
    sent = fake_tg.sent_texts(CUSTOMER if ticket == 1 else CUSTOMER + 1)
    assert any(text.endswith(CANNED + " Номер заказа 1187.") for text in sent), sent


async def test_the_queue_searches_counts_and_puts_the_first_due_on_top(
    start_app: AppFactory, faq_loaded: Database
):
    from datetime import timedelta

    from storage.models import Ticket, TicketMessage
    from storage.repositories.customers import CustomerRepository

    app = await start_app(telegram_mode=None, scheduler={"enabled": False})
    await add_staff(faq_loaded, "olga", "agent", name="Ольга")
    now = datetime.now(UTC)
    async with create_session_pool(faq_loaded.engine)() as session, session.begin():
        customers = CustomerRepository(session)
        yan = await customers.get_or_create("webchat", "s-1", "Ян Петров", "ru")
        eva = await customers.get_or_create("webchat", "s-2", "Eva", "en")
        for n, (who, subject, due, priority) in enumerate(
            [
                (yan, "Вопрос по оплате", now + timedelta(hours=5), "normal"),
                (eva, "Refund please", now + timedelta(minutes=20), "urgent"),  # due first
                (yan, "Доставка", None, "normal"),
                (eva, "Wrong size", now + timedelta(hours=1), "normal"),
            ],
            start=1,
        ):
            session.add(
                Ticket(
                    id=n,
                    customer_id=who.id,
                    channel="webchat",
                    status="open",
                    subject=subject,
                    due_at=due,
                    priority=priority,
                    created_at=now - timedelta(hours=n),
                )
            )
        await session.flush()
        session.add(TicketMessage(ticket_id=3, kind="customer", text="КУРЬЕР опоздал на час"))

    async with _signed_in(app) as http:
        async with http.get(app.url + "/inbox") as resp:
            html = await resp.text()
        assert _shown(html) == ["2", "4", "1", "3"]  # by due time; none last
        assert re.search(r">(Open|Открытые) <span class=\"count\" data-view=\"all_open\">4<", html)
        assert re.search(r">(Urgent|Срочные) <span class=\"count\" data-view=\"urgent\">1<", html)
        for query, expected in (
            ("курьер", ["3"]),  # a message's words, in another case (Cyrillic on SQLite too)
            ("ян петров", ["1", "3"]),  # the customer's name
            ("#4", ["4"]),  # a number
            ("50%", []),  # a LIKE wildcard is a character
        ):
            async with http.get(app.url + "/inbox", params={"q": query}) as resp:
                assert _shown(await resp.text()) == expected, query
        async with http.get(app.url + "/inbox", params={"sort": "created"}) as resp:
            assert _shown(await resp.text()) == ["4", "3", "2", "1"]


async def test_the_ticket_shows_the_customer_across_channels_with_their_answers(
    start_app: AppFactory, faq_loaded: Database
):
    from storage.models import ChannelIdentity, SurveyResponse, Ticket
    from storage.repositories.customers import CustomerRepository
    from storage.repositories.reports import add_response

    app = await start_app(telegram_mode=None, scheduler={"enabled": False})
    await add_staff(faq_loaded, "olga", "agent", name="Ольга")
    async with create_session_pool(faq_loaded.engine)() as session, session.begin():
        customers = CustomerRepository(session)
        yan = await customers.get_or_create("telegram", "7001", "Ян", "ru")
        session.add(
            ChannelIdentity(channel="email", external_id="yan@example.com", customer_id=yan.id)
        )
        for n, subject in ((1, "Сломался замок"), (2, "Вернуть деньги")):
            session.add(
                Ticket(id=n, customer_id=yan.id, channel="telegram", status="open", subject=subject)
            )
        await session.flush()
        await add_response(
            session,
            SurveyResponse(kind="nps", customer_id=yan.id, score=3, comment="Долго ждал ответа"),
        )
        await add_response(  # anonymous: linked to nobody, so shown on nobody's ticket
            session, SurveyResponse(kind="nps", customer_id=None, score=10, comment="Аноним")
        )
    async with _signed_in(app) as http, http.get(app.url + "/inbox/tickets/1") as resp:
        html = await resp.text()
    panel = html[html.index('id="customer-panel"') : html.index("/inbox/tickets/1/via")]
    assert "yan@example.com" in panel and "Telegram" in panel
    assert 'href="/inbox/tickets/2">#2</a>' in panel and "Вернуть деньги" in panel
    assert 'href="/inbox/tickets/1">' not in panel  # not itself
    assert "NPS <strong>3</strong>" in panel and "Долго ждал ответа" in panel
    assert "Аноним" not in html


# The edge of the world: the operating system's notifications and speakers are recorded.
RECORD_ALERTS = """
window.__notes = [];
window.__beeps = 0;
window.Notification = class {
  constructor(title) { window.__notes.push(title); }
  static get permission() { return "granted"; }
  static requestPermission() { return Promise.resolve("granted"); }
};
window.AudioContext = class {
  constructor() { this.currentTime = 0; this.destination = {}; }
  createOscillator() {
    return { frequency: {}, connect() {}, start() { window.__beeps += 1; }, stop() {} };
  }
  createGain() { return { gain: {}, connect() {} }; }
};
"""


@needs_chromium
async def test_a_new_complaint_sounds_and_notifies_when_asked(
    start_app: AppFactory, fake_tg: FakeTelegram, faq_loaded: Database
):

    fake_tg.members[8] = "member"
    app = await start_app(
        telegram={"staff_chat_id": STAFF_CHAT},
        scheduler={"enabled": False},
        clock=lambda: datetime.now(UTC),
    )
    await add_staff(faq_loaded, "olga", "agent", name="Ольга")
    await _complaint(fake_tg, app, CUSTOMER, "Курьер не привёз заказ 1187")
    async with chromium() as browser:
        page = await browser.new_page(locale="ru-RU")
        await page.add_init_script(RECORD_ALERTS)
        await _sign_in_by_keyboard(page, app)
        # Off until asked for: a complaint arrives, nothing sounds.
        await _complaint(fake_tg, app, CUSTOMER + 1, "Списали деньги дважды")
        await page.get_by_role("link", name="Списали деньги дважды").wait_for()
        assert await page.evaluate("[window.__beeps, window.__notes.length]") == [0, 0]
        await page.get_by_label("Звук при новом или просроченном обращении").check()
        await page.get_by_label("Уведомления на рабочем столе").check()
        await _complaint(fake_tg, app, CUSTOMER + 2, "Не тот размер")
        await page.get_by_role("link", name="Не тот размер").wait_for()
        await page.wait_for_function("window.__notes.length > 0")
        assert await page.evaluate("window.__notes") == ["Новое обращение"]
        assert await page.evaluate("window.__beeps") == 1
        assert (await page.title()).startswith("(3)")
        # The choice is kept for the next visit.
        await page.reload()
        assert await page.get_by_label("Уведомления на рабочем столе").is_checked()


async def test_labels_from_a_rule_the_inbox_and_the_api_filter_the_queue(
    start_app: AppFactory, fake_tg: FakeTelegram, faq_loaded: Database
):
    from tests.api_client import make_token

    fake_tg.members[8] = "member"
    app = await start_app(
        telegram={"staff_chat_id": STAFF_CHAT},
        scheduler={"enabled": False},
        tickets={"rules": [{"name": "money", "keywords": ["деньги"], "labels": ["Billing"]}]},
    )
    await add_staff(faq_loaded, "olga", "agent", name="Ольга")
    await _complaint(fake_tg, app, CUSTOMER, "Списали деньги дважды")  # the rule labels it
    await _complaint(fake_tg, app, CUSTOMER + 1, "Курьер опоздал")
    token = await make_token(faq_loaded, "crm", "agent")
    api = {"Authorization": f"Bearer {token}"}
    async with app.http.get(app.url + "/api/v1/tickets/1", headers=api) as resp:
        assert (await resp.json())["labels"] == ["billing"]

    async with _signed_in(app) as http:
        async with http.get(app.url + "/inbox/tickets/2") as resp:
            page = await resp.text()
        csrf = re.search(r'name="csrf" value="([^"]+)"', page)
        assert csrf is not None
        async with http.post(
            app.url + "/inbox/tickets/2/labels",
            data={"csrf": csrf.group(1), "labels": "VIP, опоздание,  vip "},
        ) as resp:
            assert resp.url.query.get("done") == "labelled"
            labelled = await resp.text()
        assert 'href="/inbox?label=vip"' in labelled and "labels: vip, опоздание" in labelled
        async with http.get(app.url + "/inbox", params={"label": "vip"}) as resp:
            assert _shown(await resp.text()) == ["2"]
        async with http.get(app.url + "/inbox", params={"label": "billing"}) as resp:
            assert _shown(await resp.text()) == ["1"]
    async with app.http.get(app.url + "/api/v1/tickets/2", headers=api) as resp:
        etag = resp.headers["ETag"]
        assert (await resp.json())["labels"] == ["vip", "опоздание"]
    async with app.http.patch(
        app.url + "/api/v1/tickets/2",
        json={"labels": []},
        headers={**api, "If-Match": etag},
    ) as resp:
        assert resp.status == 200
    async with app.http.get(app.url + "/api/v1/tickets/2", headers=api) as resp:
        assert (await resp.json())["labels"] == []
