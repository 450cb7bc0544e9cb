"""The web inbox: sign-in and its defences over real HTTP, and a staff member's whole task in
a real browser (Playwright driving Debian's chromium) against a customer who wrote in Telegram
through the fake Bot API."""

from __future__ import annotations

import asyncio
import os
import re
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from sqlalchemy import func, select

from bot.web.passwords import hash_password
from storage.db import create_session_pool
from storage.models import Ticket, TicketMessage, utcnow
from storage.repositories.customers import CustomerRepository
from storage.repositories.staff_accounts import AccountRepository
from storage.repositories.tickets import CannedRepository
from tests.api_client import make_token
from tests.browser import chromium, needs_chromium, screenshot
from tests.conftest import AppFactory, Database, RunningApp, run_otklik
from tests.fake_telegram import FakeTelegram
from tests.staff import add_staff, browser_session, code_for, sign_in_page

STAFF_CHAT = -100888
CUSTOMER = 4242
PASSWORD = "correct horse battery"


async def _account(database: Database, login: str = "anna", name: str = "Анна") -> None:
    async with create_session_pool(database.engine)() as session, session.begin():
        await AccountRepository(session).add(
            login, name, "agent", hash_password(PASSWORD), utcnow()
        )


async def _complaint(fake_tg: FakeTelegram, app: RunningApp, text: str) -> None:
    for message in ("/complaint", text):
        await fake_tg.deliver(fake_tg.message_update(CUSTOMER, message))
        await app.drain()


async def _sign_in(http: aiohttp.ClientSession, app: RunningApp, password: str = PASSWORD) -> int:
    async with http.post(
        app.url + "/inbox/login",
        data={"login": "anna", "password": password, "next": "/inbox"},
        allow_redirects=False,
    ) as resp:
        return resp.status


async def test_sign_in_cookie_fixation_csrf_and_escaping(
    start_app: AppFactory, fake_tg: FakeTelegram, faq_loaded: Database
):
    fake_tg.members[8] = "member"
    app = await start_app(telegram={"staff_chat_id": STAFF_CHAT}, scheduler={"enabled": False})
    await _account(faq_loaded)
    await _complaint(fake_tg, app, '<script>alert("x")</script> & <b>жирный</b>')
    async with browser_session() as http:
        async with http.get(app.url + "/inbox", allow_redirects=False) as resp:
            assert resp.status == 303 and resp.headers["Location"].startswith("/inbox/login")
        assert await _sign_in(http, app, "wrong password!") == 401
        # Another site's form cannot sign the visitor in to an account of its choosing.
        async with http.post(
            app.url + "/inbox/login",
            data={"login": "anna", "password": PASSWORD},
            headers={"Origin": "https://evil.example"},
            allow_redirects=False,
        ) as resp:
            assert resp.status == 403 and "Set-Cookie" not in resp.headers
        # A session id planted before sign-in is neither used nor kept (no fixation).
        http.cookie_jar.update_cookies({"otklik_inbox": "planted-by-someone-else"})
        async with http.post(
            app.url + "/inbox/login",
            data={"login": "ANNA", "password": PASSWORD, "next": "https://evil.example/"},
            allow_redirects=False,
        ) as resp:
            assert resp.status == 303
            assert resp.headers["Location"] == "/inbox"  # never off-site
            cookie = resp.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/;" in cookie
        assert "Secure" not in cookie  # plain HTTP here; HTTPS sets it
        assert "planted-by-someone-else" not in cookie
        async with http.get(app.url + "/inbox/tickets/1") as resp:
            page = await resp.text()
            assert resp.status == 200
            assert resp.headers["Content-Security-Policy"].startswith("default-src 'self'")
        # Customer text is text: escaped, never markup.
        assert (
            "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;жирный&lt;/b&gt;"
            in page
        )
        assert "<script>" not in page
        # A form without the session's CSRF token does nothing.
        before = len(fake_tg.sent_texts(CUSTOMER))
        async with http.post(
            app.url + "/inbox/tickets/1/reply", data={"text": "forged", "csrf": "guess"}
        ) as resp:
            assert resp.status == 403
        csrf = re.search(r'name="csrf" value="([^"]+)"', page)
        assert csrf is not None
        async with http.post(
            app.url + "/inbox/tickets/1/reply",
            data={"text": "Разберёмся", "csrf": csrf.group(1)},
            allow_redirects=False,
        ) as resp:
            assert resp.status == 303 and resp.headers["Location"].endswith("?done=sent")
        sent = fake_tg.sent_texts(CUSTOMER)
        assert len(sent) == before + 1 and sent[-1].endswith(" (Анна):\nРазберёмся")
        # Disabled from the CLI: the session ends at once.
        disabled = await asyncio.to_thread(
            run_otklik, faq_loaded, "staff", "disable", "anna", cwd=Path.cwd()
        )
        assert disabled.returncode == 0, disabled.stderr
        async with http.get(app.url + "/inbox", allow_redirects=False) as resp:
            assert resp.status == 303


async def test_sign_in_attempts_are_limited(start_app: AppFactory, faq_loaded: Database):
    app = await start_app(telegram_mode=None, api={"sign_in_per_minute": 1})
    await _account(faq_loaded)
    async with browser_session() as http:
        statuses = [await _sign_in(http, app, f"guess number {n}") for n in range(7)]
        assert statuses[:5] == [401] * 5 and statuses[5:] == [429, 429]
        assert await _sign_in(http, app) == 429  # even the right password waits


@needs_chromium
async def test_a_staff_member_answers_a_telegram_customer_in_the_browser(
    start_app: AppFactory, fake_tg: FakeTelegram, faq_loaded: Database, tmp_path: Path
):

    fake_tg.members[8] = "member"
    app = await start_app(  # the real clock only: times on the pages agree with each other
        telegram={"staff_chat_id": STAFF_CHAT},
        scheduler={"enabled": False},
        clock=lambda: datetime.now(UTC),
    )
    await _account(faq_loaded, "olga", "Ольга")
    await _complaint(fake_tg, app, "Курьер не привёз заказ 1187, жду с утра")
    shots = Path(os.environ.get("OTKLIK_SCREENSHOTS", tmp_path))
    async with chromium() as browser:
        page = await browser.new_page(locale="ru-RU", viewport={"width": 1100, "height": 700})
        await page.goto(app.url + "/inbox")
        assert "/inbox/login" in page.url
        await page.fill("#login", "olga")
        await page.fill("#password", PASSWORD)
        await page.click("button[type=submit]")
        await page.wait_for_url(re.compile(r"/inbox$"))
        row = page.get_by_role("link", name="Курьер не привёз заказ 1187, жду с утра")
        await row.wait_for()
        # A new complaint shows up in the open queue by itself (WebSocket, no reload).
        await page.evaluate("window.__same_page = true")
        for text in ("/complaint", "Списали деньги дважды"):
            await fake_tg.deliver(fake_tg.message_update(CUSTOMER + 1, text))
            await app.drain()
        await page.get_by_role("link", name="Списали деньги дважды").wait_for(timeout=5000)
        assert await page.evaluate("window.__same_page === true")
        await screenshot(page, str(shots / "inbox-queue.png"), full_page=True)
        await row.click()
        await page.wait_for_url(re.compile(r"/inbox/tickets/1$"))
        await page.fill("#reply", "Ольга на связи: курьер будет до 15:00.")
        await page.get_by_role("button", name="Отправить").click()
        await page.get_by_role("status").wait_for()
        assert (await page.get_by_role("status").inner_text()) == "Отправлено."
        await screenshot(page, str(shots / "inbox-ticket.png"), full_page=True)
        # On a phone the queue still works: one column, no sideways scrolling.
        phone = await browser.new_page(viewport={"width": 390, "height": 800})
        await phone.context.add_cookies(await page.context.cookies())
        await phone.goto(app.url + "/inbox")
        width = await phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, width
    assert (
        fake_tg.sent_texts(CUSTOMER)[-1]
        == "Поддержка (Ольга):\nОльга на связи: курьер будет до 15:00."
    )
    assert any("Ольга на связи" in t for t in fake_tg.sent_texts(STAFF_CHAT))  # and the topic


async def test_the_console_is_for_admins_and_edits_cannot_overwrite_unseen(
    start_app: AppFactory, faq_loaded: Database
):
    app = await start_app(telegram_mode=None, scheduler={"enabled": False})
    await _account(faq_loaded)  # an agent
    await add_staff(faq_loaded, "boss", "admin", "Босс")  # with the tests' authenticator
    async with browser_session() as agent, browser_session() as admin:
        assert await _sign_in(agent, app) == 303
        async with agent.get(app.url + "/admin/faq") as resp:
            assert resp.status == 403
            assert "This needs an admin account." in await resp.text()
        async with admin.post(
            app.url + "/inbox/login",
            data={
                "login": "boss",
                "password": PASSWORD,
                "code": code_for("boss"),
                "next": "/admin/faq",
            },
            allow_redirects=False,
        ) as resp:
            assert resp.headers["Location"] == "/admin/faq"
        async with admin.get(
            app.url + "/admin/faq", params={"try": "сколко стоит доставка"}
        ) as resp:
            listing = await resp.text()
        assert resp.status == 200 and 'id="ranking"' in listing
        first = re.search(r'href="/admin/faq/(\d+)">([^<]+)</a></td><td>([0-9.]+)', listing)
        assert first is not None, listing  # the top-ranked entry, with its score
        entry_url = f"{app.url}/admin/faq/{first.group(1)}"
        async with admin.get(entry_url) as resp:
            form = await resp.text()
        csrf = re.search(r'name="csrf" value="([^"]+)"', form)
        version = re.search(r'name="version" value="([^"]+)"', form)
        assert csrf is not None and version is not None
        fields = {"csrf": csrf.group(1), "question": "Доставка?", "keywords": ""}
        async with admin.post(
            entry_url, data={**fields, "answer": "Бесплатно", "version": version.group(1)}
        ) as resp:
            assert resp.status == 200 and resp.url.query.get("done") == "saved"
            assert "Saved. The bot answers with it within seconds." in await resp.text()
        # A second editor still holding the old version is told, and overwrites nothing.
        async with admin.post(
            entry_url, data={**fields, "answer": "Платно", "version": version.group(1)}
        ) as resp:
            assert resp.status == 409
            assert "Бесплатно" in await resp.text()


@needs_chromium
async def test_an_admin_edits_an_faq_answer_and_the_web_chat_says_it(
    start_app: AppFactory, faq_loaded: Database, tmp_path: Path
):

    app = await start_app(telegram_mode=None, scheduler={"enabled": False})
    await add_staff(faq_loaded, "boss", "admin", "Борис")  # with the tests' authenticator
    shots = Path(os.environ.get("OTKLIK_SCREENSHOTS", tmp_path))
    new_answer = "До конца года доставка бесплатная по всей России."
    async with chromium() as browser:
        page = await browser.new_page(locale="ru-RU", viewport={"width": 1100, "height": 800})
        await page.goto(app.url + "/admin")
        await sign_in_page(page)
        await page.wait_for_url(re.compile(r"/admin/faq$"))
        await page.fill("#try", "скока стоит доставить заказ")
        await page.get_by_role("button", name="Ранжировать").click()
        top = page.locator("#ranking tbody tr").first
        await top.wait_for()
        assert "Сколько стоит доставка?" in await top.inner_text()
        await screenshot(page, str(shots / "admin-faq.png"))
        await top.get_by_role("link").click()
        await page.fill("#answer", new_answer)
        await page.get_by_role("button", name="Сохранить").click()
        await page.get_by_role("status").wait_for()
        assert (await page.get_by_role("status").inner_text()).startswith("Сохранено")
    for _ in range(50):  # the FAQ index rereads SQL every 2 s
        status, body = await app.post_json(
            "/api/v1/chat/messages",
            {"session": "faq-check-0001", "text": "Сколько стоит доставка?"},
        )
        assert status == 200
        if any(new_answer in r["text"] for r in body["replies"]):
            break
        await asyncio.sleep(0.2)
    else:
        raise AssertionError(body)


async def test_canned_replies_reply_channel_and_merge_from_the_ticket_page(
    start_app: AppFactory, fake_tg: FakeTelegram, faq_loaded: Database
):
    fake_tg.members[8] = "member"
    app = await start_app(telegram={"staff_chat_id": STAFF_CHAT}, scheduler={"enabled": False})
    await _account(faq_loaded)
    async with create_session_pool(faq_loaded.engine)() as session, session.begin():
        await CannedRepository(session).add("thanks", "Спасибо, что написали! Уже смотрим.")
    await _complaint(fake_tg, app, "Не пришёл заказ")
    async with browser_session() as http:
        assert await _sign_in(http, app) == 303
        async with http.get(app.url + "/inbox/tickets/1") as resp:
            page = await resp.text()
        assert '<option value="thanks"' in page and '<option value="telegram"' in page
        csrf = re.search(r'name="csrf" value="([^"]+)"', page)
        assert csrf is not None
        form = {"csrf": csrf.group(1)}

        async def act(ticket: int, action: str, **fields: str) -> str:
            async with http.post(
                f"{app.url}/inbox/tickets/{ticket}/{action}", data={**form, **fields}
            ) as resp:
                assert resp.status == 200
                return str(resp.url.path_qs)

        assert (await act(1, "reply", text="", canned="thanks")).endswith("?done=sent")
        assert fake_tg.sent_texts(CUSTOMER)[-1].endswith("Спасибо, что написали! Уже смотрим.")
        assert (await act(1, "via", channel="vk")).endswith("?done=via_unknown")
        assert (await act(1, "via", channel="telegram")).endswith("?done=via")
        # A change made in the web inbox moves the ticket's ETag: an API client holding the old
        # one is refused, not allowed to overwrite it.
        token = await make_token(faq_loaded, "crm", "agent")
        api = {"Authorization": f"Bearer {token}"}
        async with http.get(app.url + "/api/v1/tickets/1", headers=api) as resp:
            before = resp.headers["ETag"]
        await act(1, "resolve")
        async with http.get(app.url + "/api/v1/tickets/1", headers=api) as resp:
            assert resp.headers["ETag"] != before
        async with http.patch(
            app.url + "/api/v1/tickets/1",
            json={"priority": "low"},
            headers={**api, "If-Match": before},
        ) as resp:
            assert resp.status == 412

        await _complaint(fake_tg, app, "И ещё: курьер нагрубил")
        async with http.get(app.url + "/inbox/tickets/2") as resp:
            assert '<option value="1">#1 · Не пришёл заказ' in await resp.text()
        assert (await act(2, "merge", into="99")).endswith("/inbox/tickets/2?done=not_merged")
        assert (await act(2, "merge", into="1")).endswith("/inbox/tickets/1?done=merged")
        async with http.get(app.url + "/inbox/tickets/2") as resp:
            assert 'Merged into <a href="/inbox/tickets/1">#1</a>' in await resp.text()
        async with http.get(
            app.url + "/inbox/tickets/1?done=merged", headers={"Accept-Language": "en"}
        ) as resp:
            merged = await resp.text()
        assert "#2 merged here" in merged and "Merged: the conversation goes on here." in merged


async def test_live_updates_do_not_lose_a_message_committed_late(
    start_app: AppFactory, fake_tg: FakeTelegram, faq_loaded: Database
):
    """Ids are taken before commit: id 10 can become visible after id 11. The watcher reads a
    little behind the newest id it saw, so the page still hears of the late one, once."""
    app = await start_app(telegram={"staff_chat_id": STAFF_CHAT}, scheduler={"enabled": False})
    await _account(faq_loaded)
    await _complaint(fake_tg, app, "Первое")
    for text in ("/complaint", "Второе"):
        await fake_tg.deliver(fake_tg.message_update(CUSTOMER + 1, text))
        await app.drain()
    pool = create_session_pool(faq_loaded.engine)
    async with pool() as session:
        newest = int((await session.execute(select(func.max(TicketMessage.id)))).scalar() or 0)

    async def add(message_id: int, ticket_id: int) -> None:
        async with pool() as session, session.begin():
            session.add(TicketMessage(id=message_id, ticket_id=ticket_id, kind="note", text="x"))

    async with browser_session() as http:
        assert await _sign_in(http, app) == 303
        async with http.ws_connect(app.url.replace("http", "ws") + "/inbox/live") as socket:
            await asyncio.sleep(0.6)  # the watcher has read where the log ends
            await add(newest + 2, 2)  # committed first, with the later id
            first = await socket.receive_json(timeout=5)
            await add(newest + 1, 1)  # the earlier id, committed after it was passed
            late = await socket.receive_json(timeout=5)
            assert (first["ids"], late["ids"]) == ([2], [1])
            await add(newest + 3, 2)
            assert (await socket.receive_json(timeout=5))["ids"] == [2]  # 1 is not told twice


async def test_the_queue_pages_past_a_hundred_tickets(start_app: AppFactory, faq_loaded: Database):
    app = await start_app(telegram_mode=None, scheduler={"enabled": False})
    await _account(faq_loaded)
    async with create_session_pool(faq_loaded.engine)() as session, session.begin():
        customer = await CustomerRepository(session).get_or_create("webchat", "s-1", "Ян", "ru")
        session.add_all(
            Ticket(customer_id=customer.id, channel="webchat", status="open", subject=f"№{n}")
            for n in range(1, 151)
        )
    async with browser_session() as http:
        assert await _sign_in(http, app) == 303
        async with http.get(
            app.url + "/inbox", params={"channel": "webchat", "sort": "created"}
        ) as resp:
            first = await resp.text()
        shown = re.findall(r'href="/inbox/tickets/(\d+)">#', first)
        assert len(shown) == 100 and shown[0] == "150" and shown[-1] == "51"
        older = re.search(r'href="(/inbox\?[^"]+)" id="older"', first)
        assert older is not None and "channel=webchat" in older.group(1)
        assert "sort=created" in older.group(1)
        async with http.get(app.url + older.group(1).replace("&amp;", "&")) as resp:
            second = await resp.text()
        shown = re.findall(r'href="/inbox/tickets/(\d+)">#', second)
        assert (len(shown), shown[0], shown[-1]) == (50, "50", "1")
        assert 'id="older"' not in second
