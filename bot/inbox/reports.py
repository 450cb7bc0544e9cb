"""The console's reports: NPS with its margin of error, CSAT, CES, response rates and
complaints, per week or month, with trend charts (PNG, drawn by `bot.charts`) and the same
numbers as `otklik report` and the API."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from aiohttp import web

from bot.core.days import parse_day
from bot.core.texts import t
from bot.inbox import auth
from bot.inbox.pages import page, routes, signed_in_only
from bot.inbox.texts import language_of
from bot.reports.charts import trend_png
from bot.reports.surveys import rate_rows, rows_for
from bot.web.keys import CLOCK, SESSION_POOL
from storage.repositories.reports import (
    ReportFilter,
    response_rates,
    score_counts,
    ticket_counts,
)

METRICS = ("nps", "csat", "ces")
DEFAULT_DAYS = 182


def _window(request: web.Request) -> tuple[date, date, str]:
    """From, to (inclusive) and the period, from the query or the last half year by week."""
    today = request.app[CLOCK]().astimezone(UTC).date()
    until = parse_day(request.query.get("to", "")) or today
    since = parse_day(request.query.get("from", "")) or until - timedelta(days=DEFAULT_DAYS)
    if since > until:
        since, until = until, since
    by = request.query.get("by", "week")
    return since, until, by if by in ("week", "month") else "week"


def _bounds(since: date, until: date) -> tuple[datetime, datetime]:
    return datetime.combine(since, time(), UTC), datetime.combine(
        until + timedelta(days=1), time(), UTC
    )


async def _rows(
    request: web.Request, metric: str, since: date, until: date, by: str
) -> list[dict[str, Any]]:
    start, end = _bounds(since, until)
    async with request.app[SESSION_POOL]() as session:
        counts = await score_counts(session, ReportFilter(metric, start, end, by=by))
    return rows_for(metric, counts)


async def _reports(request: web.Request, signed: auth.Signed) -> web.StreamResponse:
    since, until, by = _window(request)
    tables = {metric: await _rows(request, metric, since, until, by) for metric in METRICS}
    start, end = _bounds(since, until)
    async with request.app[SESSION_POOL]() as session:
        rates = rate_rows(await response_rates(session))
        complaints = await ticket_counts(session, start, end, by)
    query = f"from={since.isoformat()}&to={until.isoformat()}&by={by}"
    return page(
        request,
        "admin_reports.html",
        {
            "account": signed,
            "csrf": signed.csrf,
            "since": since.isoformat(),
            "until": until.isoformat(),
            "by": by,
            "query": query,
            "tables": tables,
            "rates": rates,
            "complaints": complaints,
        },
    )


async def _chart(request: web.Request, _signed: auth.Signed) -> web.StreamResponse:
    metric = request.match_info["metric"]
    if metric not in METRICS:
        raise web.HTTPNotFound(text="no such chart")
    since, until, by = _window(request)
    rows = await _rows(request, metric, since, until, by)
    language = language_of(request)
    title = t(
        "chart_trend_title",
        language,
        metric=metric.upper(),
        by=t(f"chart_by_{by}", language),
        since=since.strftime("%d.%m.%Y"),
        until=until.strftime("%d.%m.%Y"),
    )
    phone = request.query.get("size") == "phone"
    return web.Response(
        body=trend_png(metric, rows, title, t("chart_no_answers", language), phone=phone),
        content_type="image/png",
        headers={"Cache-Control": "private, max-age=60"},
    )


routes.get("/admin/reports")(signed_in_only(_reports, role="admin"))
routes.get("/admin/reports/{metric}.png")(signed_in_only(_chart, role="admin"))
