"""The console's settings pages: working hours and holidays as the bot applies them, editable
(stored in SQL over the config file's [hours], applied without a restart, audited), and the
audit log of every change made through the API, the console and the CLI."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from aiohttp import web

from bot.core.hours import HoursProblem
from bot.core.texts import has, t
from bot.core.untrusted import parse_id
from bot.inbox import auth
from bot.inbox.pages import page, routes, see_other, signed_in_only
from bot.inbox.texts import language_of
from bot.web.keys import CLOCK, LIVE_HOURS, SESSION_POOL
from storage.repositories.api import AuditLog

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HOLIDAY_DAYS = 120
AUDIT_PAGE = 100


async def _hours(request: web.Request, signed: auth.Signed) -> web.StreamResponse:
    live = request.app[LIVE_HOURS]
    hours, config = live.hours, live.config
    now = request.app[CLOCK]()
    state = hours.status(now)
    today = now.astimezone(hours.zone).date()
    language = language_of(request)
    holidays = []
    for offset in range(HOLIDAY_DAYS):
        day = today + timedelta(days=offset)
        name = hours.holiday_name(day, language)
        if name is not None:
            holidays.append((day, name))
    error = request.query.get("error", "")[:300]
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
            "extra_holidays": config.extra_holidays,
            "country": config.country,
            "subdivision": config.subdivision,
            "target": config.reply_target_minutes,
            "edited_at": live.updated_at.astimezone(hours.zone) if live.updated_at else None,
            "edited_by": live.updated_by.removeprefix("staff:"),
            "flash": error or request.query.get("done", "")[:300],
            "flash_error": bool(error),
        },
    )


async def _save_hours(request: web.Request, signed: auth.Signed) -> web.StreamResponse:
    """The week (a day's intervals comma-separated, empty for closed), the reply target, the
    country's calendar and extra holidays (a line each: a date and a name if wanted)."""
    form = await request.post()

    def field(name: str, limit: int = 2000) -> str:
        return str(form.get(name, ""))[:limit]

    target = field("reply_target_minutes", 12).strip()
    edits = {
        "weekly": {
            day: [part.strip() for part in field(f"day_{day}", 200).split(",") if part.strip()]
            for day in DAYS
        },
        "extra_holidays": [
            line.strip() for line in field("extra_holidays").splitlines() if line.strip()
        ],
        "reply_target_minutes": int(target) if target.isascii() and target.isdigit() else -1,
        "country": field("country", 8),
        "subdivision": field("subdivision", 8),
    }
    try:
        await request.app[LIVE_HOURS].save(edits, f"staff:{signed.login}")
    except ValueError as exc:
        said = exc.said(language_of(request)) if isinstance(exc, HoursProblem) else str(exc)
        raise see_other("/admin/hours?" + urlencode({"error": said})) from None
    raise see_other("/admin/hours?" + urlencode({"done": t("hours_saved", language_of(request))}))


async def _audit(request: web.Request, signed: auth.Signed) -> web.StreamResponse:
    before = parse_id(request.query.get("before", ""), maximum=2**63 - 1)
    async with request.app[SESSION_POOL]() as session:
        rows = list(await AuditLog(session).page(AUDIT_PAGE + 1, before))
    more = len(rows) > AUDIT_PAGE
    rows = rows[:AUDIT_PAGE]
    zone, language = request.app[LIVE_HOURS].hours.zone, language_of(request)
    shown = [
        {
            "id": r.id,
            "when": r.created_at.astimezone(zone),
            "actor": r.actor.removeprefix("staff:"),
            "action": t(f"audit_{r.action.replace('.', '_')}", language)
            if has(f"audit_{r.action.replace('.', '_')}")
            else r.action,
            "target": r.target,
            "details": r.details if r.details != "{}" else "",
        }
        for r in rows
    ]
    return page(
        request,
        "admin_audit.html",
        {
            "account": signed,
            "csrf": signed.csrf,
            "rows": shown,
            "zone": str(zone),
            "older": rows[-1].id if more and rows else None,
        },
    )


routes.get("/admin/hours")(signed_in_only(_hours, role="admin"))
routes.post("/admin/hours")(signed_in_only(_save_hours, role="admin"))
routes.get("/admin/audit")(signed_in_only(_audit, role="admin"))
