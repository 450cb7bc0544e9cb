"""What stands between a guessed or leaked password and an account: strong-enough passwords,
a lock after wrong guesses from any address, and a second factor (TOTP) that admins set up
before the console opens."""

from __future__ import annotations

import asyncio
import os
import re
import time
from functools import partial
from pathlib import Path

import aiohttp
import pyotp
from sqlalchemy import select

from storage.models import AuditEntry
from tests.browser import chromium, needs_chromium, screenshot
from tests.conftest import AppFactory, Database, RunningApp, run_otklik
from tests.staff import PASSWORD, SECRET, add_staff, browser_session, code_for


async def _sign_in(
    http: aiohttp.ClientSession, app: RunningApp, login: str, password: str, code: str = ""
) -> tuple[int, str]:
    async with http.post(
        app.url + "/inbox/login",
        data={"login": login, "password": password, "code": code, "next": "/inbox"},
        allow_redirects=False,
    ) as resp:
        return resp.status, await resp.text()


async def test_wrong_passwords_lock_the_account_whatever_the_address(
    start_app: AppFactory, database: Database, tmp_path: Path
):
    # The per-address limit out of the way: these guesses could come from anywhere.
    app = await start_app(telegram_mode=None, api={"sign_in_per_minute": 10_000})
    await add_staff(database, "anna", "agent")
    async with browser_session() as http:
        for attempt in range(5):
            status, _ = await _sign_in(http, app, "anna", f"guess number {attempt}")
            assert status == 401
        # The right password no longer opens it; the page says for how long.
        status, page = await _sign_in(http, app, "anna", PASSWORD)
        assert status == 429 and "locked for 15 min" in page
        async with database.engine.connect() as conn:
            actions = (await conn.execute(select(AuditEntry.action))).scalars().all()
        assert "staff.locked" in actions
        unlocked = await asyncio.to_thread(
            run_otklik, database, "staff", "unlock", "anna", cwd=tmp_path
        )
        assert unlocked.returncode == 0 and "unlocked" in unlocked.stdout, unlocked.stderr
        assert (await _sign_in(http, app, "anna", PASSWORD))[0] == 303
        # A success starts the count again: four wrong ones later it is still open.
        for attempt in range(4):
            assert (await _sign_in(http, app, "anna", f"guess {attempt}"))[0] == 401
        assert (await _sign_in(http, app, "anna", PASSWORD))[0] == 303


async def test_an_admin_s_code_is_needed_and_works_once(start_app: AppFactory, database: Database):
    app = await start_app(telegram_mode=None, api={"sign_in_per_minute": 10_000})
    await add_staff(database, "boss", "admin")
    async with browser_session() as http:
        assert (await _sign_in(http, app, "boss", PASSWORD))[0] == 401  # no code
        assert (await _sign_in(http, app, "boss", PASSWORD, "000000"))[0] == 401
        code = code_for("boss")
        assert (await _sign_in(http, app, "boss", PASSWORD, code))[0] == 303
        async with http.get(app.url + "/admin/faq") as resp:
            assert resp.status == 200 and resp.url.path == "/admin/faq"
    async with browser_session() as other:  # someone who saw the code over a shoulder
        status, page = await _sign_in(other, app, "boss", PASSWORD, code)
        assert status == 401 and "Wrong login, password or code." in page


async def test_an_admin_without_a_second_factor_sets_one_up_before_the_console(
    start_app: AppFactory, database: Database, tmp_path: Path
):
    app = await start_app(telegram_mode=None, api={"sign_in_per_minute": 10_000})
    await add_staff(database, "mira", "admin", two_factor=False)
    async with browser_session() as http:
        assert (await _sign_in(http, app, "mira", PASSWORD))[0] == 303
        async with http.get(app.url + "/admin/people", allow_redirects=False) as resp:
            assert resp.status == 303
            assert resp.headers["Location"] == "/inbox/two-factor?next=/admin/people"
        async with http.get(app.url + "/inbox/two-factor?next=/admin/people") as resp:
            page = await resp.text()
        assert "<svg" in page and "<script>" not in page  # no inline script (the CSP)
        secret = re.search(r'name="secret" value="([A-Z2-7]+)"', page)
        csrf = re.search(r'name="csrf" value="([^"]+)"', page)
        assert secret is not None and csrf is not None
        form = {"csrf": csrf.group(1), "secret": secret.group(1), "next": "/admin/people"}
        async with http.post(app.url + "/inbox/two-factor", data={**form, "code": "123"}) as resp:
            assert resp.status == 422 and "That code did not match" in await resp.text()
        code = pyotp.TOTP(secret.group(1)).now()
        async with http.post(
            app.url + "/inbox/two-factor", data={**form, "code": code}, allow_redirects=False
        ) as resp:
            assert resp.status == 303 and resp.headers["Location"] == "/admin/people"
        async with http.get(app.url + "/admin/people") as resp:
            assert resp.status == 200 and resp.url.path == "/admin/people"
    async with browser_session() as http:  # from now on the code is asked at sign-in
        assert (await _sign_in(http, app, "mira", PASSWORD))[0] == 401
    # A lost phone: the admin's authenticator is forgotten, and set up again at the console.
    reset = await asyncio.to_thread(
        run_otklik, database, "staff", "reset-two-factor", "mira", cwd=tmp_path
    )
    assert reset.returncode == 0 and "reset" in reset.stdout, reset.stderr
    async with browser_session() as http:
        assert (await _sign_in(http, app, "mira", PASSWORD))[0] == 303
        async with http.get(app.url + "/admin", allow_redirects=False) as resp:
            assert resp.headers["Location"].startswith("/inbox/two-factor")


async def test_common_and_trivial_passwords_are_refused(database: Database, tmp_path: Path):
    add = partial(run_otklik, database, "staff", "add", "olga", "--name", "Ольга Петрова")
    for trivial in (
        "aaaaaaaaaa",
        "qwertyuiop",
        "1234567890",
        "Password123!",
        "olga123456",
        "Ольга Петрова",
        "пароль12345",
    ):
        refused = await asyncio.to_thread(
            add, "--password-stdin", cwd=tmp_path, stdin=trivial + "\n"
        )
        assert refused.returncode == 2, (trivial, refused.stdout)
        assert "the password will not do: " in refused.stderr, refused.stderr
    made = await asyncio.to_thread(
        add, "--password-stdin", cwd=tmp_path, stdin="lantern orbit pickle\n"
    )
    assert made.returncode == 0, made.stderr


@needs_chromium
async def test_setting_up_the_second_factor_in_a_browser(
    start_app: AppFactory, database: Database, tmp_path: Path
):

    app = await start_app(telegram_mode=None)
    await add_staff(database, "mira", "admin", "Мира", two_factor=False)
    shots = Path(os.environ.get("OTKLIK_SCREENSHOTS", tmp_path))
    async with chromium() as browser:
        secret = ""
        for name, viewport in (("", (1100, 800)), ("-phone", (390, 844))):
            page = await browser.new_page(
                locale="ru-RU", viewport={"width": viewport[0], "height": viewport[1]}
            )
            await page.goto(app.url + "/admin/reports")
            await page.fill("#login", "mira")
            await page.fill("#password", PASSWORD)
            await page.click("button[type=submit]")
            if name:  # set up on the desktop already: the code is asked
                assert "/inbox/login" in page.url
                await page.fill("#password", PASSWORD)
                # The next step's code: this step's was taken when it was set up.
                await page.fill("#code", pyotp.TOTP(secret).at(int(time.time()) + 30))
                await page.click("button[type=submit]")
                await page.wait_for_url(re.compile(r"/admin/reports$"))
                continue
            await page.wait_for_url(re.compile(r"/inbox/two-factor"))
            assert "Двухэтапный вход" in await page.locator("h1").inner_text()
            qr = await page.locator(".qr svg").bounding_box()
            assert qr is not None and qr["width"] >= 150
            secret = await page.locator("#secret").inner_text()
            await screenshot(page, str(shots / "two-factor.png"), full_page=True)
            await page.fill("#code", pyotp.TOTP(secret).now())
            await page.click("form[action='/inbox/two-factor'] button")
            await page.wait_for_url(re.compile(r"/admin/reports$"))
            await page.close()
        phone = await browser.new_page(locale="ru-RU", viewport={"width": 390, "height": 844})
        await phone.goto(app.url + "/inbox/login")
        width = await phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, width
        await screenshot(phone, str(shots / "sign-in-phone.png"))
    assert secret != SECRET  # each account gets its own
