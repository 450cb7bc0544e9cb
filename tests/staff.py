"""Staff accounts for the tests, and the authenticator app admins sign in with (their second
factor is on by default): each code handed out is one the server has not taken yet."""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import pyotp

from bot.web.passwords import hash_password
from storage.db import create_session_pool
from storage.models import utcnow
from storage.repositories.staff_accounts import AccountRepository
from tests.conftest import Database

PASSWORD = "correct horse battery"
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # the tests' authenticator app
_databases: dict[str, str] = {}  # login -> the database it was last made in
_last_step: dict[tuple[str, str], int] = {}  # (database, login) -> the step last handed out


async def add_staff(
    database: Database,
    login: str,
    role: str,
    name: str | None = None,
    *,
    two_factor: bool | None = None,
) -> None:
    """An account with PASSWORD; admins (unless told otherwise) with the tests' authenticator."""
    async with create_session_pool(database.engine)() as session, session.begin():
        account = await AccountRepository(session).add(
            login, name or login.title(), role, hash_password(PASSWORD), utcnow()
        )
        if role == "admin" if two_factor is None else two_factor:
            account.totp_secret = SECRET
    _databases[login] = database.url + repr(database.connect_args)


def code_for(login: str) -> str:
    """A code for `login`'s next sign-in: this time step's, or the next one's when this one
    was used (the server takes each step once and allows one step of drift)."""
    key = (_databases.get(login, ""), login)
    totp = pyotp.TOTP(SECRET)
    step = max(int(time.time() // totp.interval), _last_step.get(key, -1) + 1)
    _last_step[key] = step
    return totp.at(step * totp.interval)


def browser_session() -> aiohttp.ClientSession:
    """An HTTP client that keeps the sign-in cookie, as a browser does (the app listens on
    127.0.0.1: aiohttp keeps cookies of an IP address only when asked)."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def sign_in_agent(http: aiohttp.ClientSession, url: str, login: str) -> None:
    """Sign an agent (no second factor) in with PASSWORD; the session keeps the cookie."""
    async with http.post(
        url + "/inbox/login",
        data={"login": login, "password": PASSWORD, "next": "/inbox"},
        allow_redirects=False,
    ) as resp:
        assert resp.status == 303, await resp.text()


async def sign_in_page(page: Any, login: str = "boss") -> None:
    """In a browser page showing the sign-in form: an account's password and second factor,
    submitted (the caller waits for the page it asked for)."""
    await page.fill("#login", login)
    await page.fill("#password", PASSWORD)
    await page.fill("#code", code_for(login))
    await page.click("button[type=submit]")
