"""The console's read-only pages: working hours and holidays as the bot applies them (they
are edited in the config file's [hours]) and the audit log of every change made through the
API, the console and the CLI."""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web

from bot.core.untrusted import parse_id
from bot.inbox import auth
from bot.inbox.pages import page, routes, signed_in_only
from bot.web.keys import CLOCK, HOURS, SESSION_POOL, SETTINGS
from storage.repositories.api import AuditLog

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HOLIDAY_DAYS = 120
AUDIT_PAGE = 100


async def _hours(request: web.Request, signed: auth.Signed) -> web.StreamResponse:
    hours, config = request.app[HOURS], request.app[SETTINGS].hours
    now = request.app[CLOCK]()
    state = hours.status(now)
    today = now.astimezone(hours.zone).date()
    holidays = []
    for offset in range(HOLIDAY_DAYS):
        day = today + timedelta(days=offset)
        name = hours.holiday_name(day, "en")
        if name is not None:
            holidays.append((day, name))
    return page(
        request,
        "admin_hours.html",
        {
            "account": signed,
            "csrf": signed.csrf,
            "zone": str(hours.zone),
            "week": list(zip(DAYS, config.weekly.by_weekday(), strict=True)),
            "open_now": state.open_now,
            "until": state.current.end.astimezone(hours.zone) if state.current else None,
            "next": state.next_opening.start.astimezone(hours.zone) if state.next_opening else None,
            "holidays": holidays,
            "country": config.country,
            "target": config.reply_target_minutes,
        },
    )


async def _audit(request: web.Request, signed: auth.Signed) -> web.StreamResponse:
    before = parse_id(request.query.get("before", ""), maximum=2**63 - 1)
    async with request.app[SESSION_POOL]() as session:
        rows = list(await AuditLog(session).page(AUDIT_PAGE + 1, before))
    more = len(rows) > AUDIT_PAGE
    rows = rows[:AUDIT_PAGE]
    return page(
        request,
        "admin_audit.html",
        {
            "account": signed,
            "csrf": signed.csrf,
            "rows": rows,
            "older": rows[-1].id if more and rows else None,
        },
    )


routes.get("/admin/hours")(signed_in_only(_hours, role="admin"))
routes.get("/admin/audit")(signed_in_only(_audit, role="admin"))
