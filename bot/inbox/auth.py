"""Who is signed in: argon2 password checks, the session cookie, CSRF on every form."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from aiohttp import web

from bot.web import passwords
from bot.web.keys import SESSION_POOL, SETTINGS
from storage.models import StaffAccount, utcnow
from storage.repositories.staff_accounts import SessionRepository

COOKIE = "otklik_inbox"


async def password_matches(account: StaffAccount | None, password: str) -> bool:
    """Off the event loop (argon2 is ~125 ms of CPU); False for no account, at the same cost."""
    return await passwords.password_matches_off_loop(
        account.password_hash if account else None, password
    )


@dataclass(frozen=True)
class Signed:
    account_id: int
    login: str
    name: str
    role: str
    csrf: str
    two_factor: bool = False  # signs in with a code too


def lifetime(request: web.Request) -> timedelta:
    return timedelta(hours=request.app[SETTINGS].api.session_hours)


def is_https(request: web.Request) -> bool:
    if request.secure:
        return True
    trusted = request.app[SETTINGS].api.trust_forwarded_for
    return trusted and request.headers.get("X-Forwarded-Proto", "").lower() == "https"


async def signed_in(request: web.Request) -> Signed | None:
    session_id = request.cookies.get(COOKIE, "")
    if not session_id or len(session_id) > 128:
        return None
    async with request.app[SESSION_POOL]() as session, session.begin():
        found = await SessionRepository(session).find(session_id, utcnow(), lifetime(request))
        if found is None:
            return None
        web_session, account = found
        return Signed(
            account.id,
            account.login,
            account.name,
            account.role,
            web_session.csrf,
            two_factor=account.totp_secret is not None,
        )


def set_cookie(request: web.Request, response: web.StreamResponse, session_id: str) -> None:
    response.set_cookie(
        COOKIE,
        session_id,
        max_age=int(lifetime(request).total_seconds()),
        path="/",  # the inbox and the admin console
        httponly=True,
        secure=is_https(request),
        samesite="Lax",
    )


def csrf_ok(signed: Signed, given: str) -> bool:
    return hmac.compare_digest(signed.csrf.encode(), given.encode("utf-8", "surrogateescape"))


def same_site(request: web.Request) -> bool:
    """A form posted from this site, by the Origin every browser sends with a POST: no other
    site can sign a visitor in to an account of its choosing (login CSRF). The host is
    compared, not the scheme: behind a TLS proxy the bot itself is spoken to over HTTP."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True  # not a browser's cross-site form (those always say where they come from)
    return urlsplit(origin).netloc == request.host
