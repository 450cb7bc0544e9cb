"""The console's gaps page: what customers asked that the FAQ did not answer, grouped by
meaning (as `otklik faq gaps`), with the one step that closes each gap: add the question as a
keyword of the closest entry, or start a new entry with it."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from aiohttp import web

from bot.core.days import parse_day
from bot.core.texts import words
from bot.core.understanding.gaps import find_gaps
from bot.core.untrusted import parse_id
from bot.inbox import auth
from bot.inbox.pages import page, routes, see_other, signed_in_only
from bot.inbox.texts import language_of
from bot.web.keys import CLOCK, CONVERSATION, SESSION_POOL
from storage.models import FaqEntry
from storage.repositories.api import AuditLog
from storage.repositories.faq import append_keyword
from storage.repositories.faq_gaps import FaqGaps

DEFAULT_DAYS = 30
MAX_PHRASE = 200


async def _gaps(request: web.Request, signed: auth.Signed) -> web.StreamResponse:
    today = request.app[CLOCK]().date()
    since = parse_day(request.query.get("from", "")) or today - timedelta(days=DEFAULT_DAYS - 1)
    until = parse_day(request.query.get("to", "")) or today
    async with request.app[SESSION_POOL]() as session:
        misses = await FaqGaps(session).misses(_start(since), _start(until + timedelta(days=1)))
        matcher = await request.app[CONVERSATION].faq.matcher(session)
        gaps = await find_gaps(matcher, misses)
    rows = [{"gap": gap, "entry": gap.entry} for gap in gaps]
    flash = request.query.get("done", "")
    language = words(language_of(request))
    return page(
        request,
        "admin_gaps.html",
        {
            "account": signed,
            "csrf": signed.csrf,
            "since": since.isoformat(),
            "until": until.isoformat(),
            "misses": len(misses),
            "rows": rows,
            "flash": language.get(flash, "") if flash in ("keyword_added", "bad_entry") else "",
            "flash_error": flash == "bad_entry",
        },
    )


def _start(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


async def _keyword(request: web.Request, signed: auth.Signed) -> web.StreamResponse:
    form = await request.post()
    entry_id = parse_id(str(form.get("entry_id", "")))
    phrase = " ".join(str(form.get("phrase", "")).split())
    if entry_id is None or not phrase or len(phrase) > MAX_PHRASE:
        raise see_other("/admin/gaps?done=bad_entry")
    async with request.app[SESSION_POOL]() as session, session.begin():
        entry = await session.get(FaqEntry, entry_id)
        if entry is None:
            raise web.HTTPNotFound(text="no such entry")
        if append_keyword(entry, phrase):
            AuditLog(session).add(
                f"staff:{signed.login}", "faq.keyword", f"faq:{entry.id}", {"phrase": phrase}
            )
    request.app[CONVERSATION].faq.invalidate()
    raise see_other("/admin/gaps?done=keyword_added")


routes.get("/admin/gaps")(signed_in_only(_gaps, role="admin"))
routes.post("/admin/gaps/keyword")(signed_in_only(_keyword, role="admin"))
