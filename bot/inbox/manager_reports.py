"""The console's manager reports (tickets, FAQ self-service, customers): the figures of
`otklik report tickets|faq|customers`, each beside the previous period, where every number and
bar opens the tickets or FAQ answers behind it, and every list exports as CSV (one row each)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from bot.core.days import parse_day
from bot.core.texts import channel_word, has, t
from bot.inbox import auth
from bot.inbox.pages import page, routes, signed_in_only
from bot.inbox.texts import language_of
from bot.reports import manager, themes, tickets
from bot.reports import render as manager_render
from bot.reports.periods import PERIODS, WindowError
from bot.reports.report_charts import report_png
from bot.web.downloads import csv_download
from bot.web.keys import CLOCK, HOURS, SESSION_POOL, SETTINGS
from storage.repositories.customer_report import CUSTOMER_SETS

BOOLEANS = {"true": True, "false": False}
ON_PAGE = 500  # rows a list page shows; its CSV has them all


def _ask(request: web.Request, kind: str) -> manager.ReportAsk:
    """The window the query asks for; days no report can cover give way to the default."""
    ask = _asked(request, kind)
    try:
        manager.default_window(ask, request.app[HOURS], request.app[CLOCK]())
    except WindowError:
        return manager.ReportAsk(kind, by=ask.by)
    return ask


def _asked(request: web.Request, kind: str) -> manager.ReportAsk:
    first = parse_day(request.query.get("from", ""))
    last = parse_day(request.query.get("to", ""))
    if first and last and first > last:
        first, last = last, first
    by = request.query.get("by", "week")
    return manager.ReportAsk(
        kind,
        first,
        last,
        by if by in PERIODS else "week",
        parse_day(request.query.get("as_of", "")),
    )


def _query(ask: manager.ReportAsk, **more: Any) -> str:
    """The query string of this window, with `more` (a filter): what a number links to."""
    fields: dict[str, Any] = {"by": ask.by}
    if ask.first:
        fields["from"] = ask.first.isoformat()
    if ask.last:
        fields["to"] = ask.last.isoformat()
    if ask.as_of:
        fields["as_of"] = ask.as_of.isoformat()
    fields.update({k: str(v).lower() if isinstance(v, bool) else v for k, v in more.items()})
    return urlencode(fields)


def _bars(rows: list[dict[str, Any]], key: str, label: str) -> list[dict[str, Any]]:
    """Rows as bars: each with its share of the largest, for a chart drawn in HTML (so every
    bar is a link)."""
    top = max((r[key] for r in rows), default=0) or 1
    return [{**r, "label": r[label], "width": round(100 * r[key] / top, 1)} for r in rows]


async def _report(request: web.Request, signed: auth.Signed) -> web.StreamResponse:
    kind = request.match_info["kind"]
    if kind not in manager.KINDS:
        raise web.HTTPNotFound(text="no such report")
    ask = _ask(request, kind)
    app = request.app
    async with app[SESSION_POOL]() as session:
        found = await manager.build(
            session, ask, app[HOURS], app[CLOCK](), app[SETTINGS].reports.churn_months
        )
    if request.query.get("format") == "csv":
        return csv_download(
            manager_render.as_csv(manager_render.figure_rows(found)),
            f"{kind}-report-{app[CLOCK]():%Y-%m-%d}",
        )
    if request.query.get("format") == "png":
        return web.Response(
            body=report_png(found, language_of(request)),
            content_type="image/png",
            headers={"Cache-Control": "private, max-age=60"},
        )
    bars: list[dict[str, Any]] = []
    if kind == "tickets":
        bars = _bars(found["by_period"]["rows"], "tickets", "period")

        def bar_link(row: dict[str, Any]) -> str:
            return "/admin/reports/tickets/rows?" + _query(ask, period=row["period"])

    elif kind == "faq":
        bars = _bars(found["unanswered_by_period"]["rows"], "questions", "period")

        def bar_link(row: dict[str, Any]) -> str:
            return "/admin/gaps"

    return page(
        request,
        f"admin_report_{kind}.html",
        {
            "account": signed,
            "csrf": signed.csrf,
            "report": found,
            "ask": ask,
            "periods": PERIODS,
            "bars": bars,
            "link": lambda **more: _query(ask, **more),
            "bar_link": bar_link if bars else None,
            "age_key": lambda age: "rw_age_" + tickets.age_slug(age),
            "word": lambda dimension, key: _dimension_word(dimension, key, language_of(request)),
            "since": ask.first.isoformat() if ask.first else found["window"]["from"],
            "until": ask.last.isoformat() if ask.last else found["window"]["to"],
        },
    )


async def _ticket_rows(request: web.Request, signed: auth.Signed) -> web.StreamResponse:
    ask = _ask(request, "tickets")
    query = request.query
    keep = manager.TicketFilter(
        **{name: query.get(name) or None for name in manager.TICKET_FILTERS},
        period=query.get("period") or None,
        breached=BOOLEANS.get(query.get("breached", "")),
        reopened=BOOLEANS.get(query.get("reopened", "")),
        backlog=query.get("backlog") == "true",
        previous=query.get("previous") == "true",
    )
    app = request.app
    async with app[SESSION_POOL]() as session:
        rows = await manager.ticket_rows(session, ask, app[HOURS], app[CLOCK](), keep)
    return _rows_page(request, signed, ask, rows, "tickets", "admin_report_rows.html")


async def _faq_answers(request: web.Request, signed: auth.Signed) -> web.StreamResponse:
    ask = _ask(request, "faq")
    query = request.query
    entry = query.get("entry", "")
    keep = manager.AnswerFilter(
        entry=int(entry) if entry.isdigit() and len(entry) < 10 else None,
        followed=BOOLEANS.get(query.get("followed", "")),
        previous=query.get("previous") == "true",
    )
    app = request.app
    async with app[SESSION_POOL]() as session:
        rows = await manager.faq_answer_rows(session, ask, app[HOURS], app[CLOCK](), keep)
    return _rows_page(request, signed, ask, rows, "faq-answers", "admin_report_answers.html")


async def _theme_rows(request: web.Request, signed: auth.Signed) -> web.StreamResponse:
    ask = _ask(request, "themes")
    query = request.query
    group, phrase = query.get("group", ""), query.get("phrase", "")[:200]
    if group not in themes.GROUPS or not phrase.strip():
        raise web.HTTPBadRequest(text="group (detractors, passives, promoters, tickets) and phrase")
    app = request.app
    async with app[SESSION_POOL]() as session:
        rows = await manager.theme_rows(
            session, ask, app[HOURS], app[CLOCK](), group, phrase, query.get("previous") == "true"
        )
    return _rows_page(request, signed, ask, rows, "theme", "admin_report_texts.html")


async def _customer_rows(request: web.Request, signed: auth.Signed) -> web.StreamResponse:
    ask = _ask(request, "customers")
    query = request.query
    which = query.get("which", "active")
    keep = manager.CustomerFilter(
        month=query.get("month", "")[:7],
        which=which if which in CUSTOMER_SETS else "active",
    )
    app = request.app
    try:
        async with app[SESSION_POOL]() as session:
            rows = await manager.customer_rows(
                session, ask, app[HOURS], app[CLOCK](), keep, app[SETTINGS].reports.churn_months
            )
    except WindowError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    return _rows_page(request, signed, ask, rows, "customers", "admin_report_customer_rows.html")


async def _churn_answers(request: web.Request, signed: auth.Signed) -> web.StreamResponse:
    ask = _ask(request, "customers")
    keep = manager.CustomerFilter(churned=request.query.get("churned") != "false")
    app = request.app
    async with app[SESSION_POOL]() as session:
        rows = await manager.customer_rows(
            session, ask, app[HOURS], app[CLOCK](), keep, app[SETTINGS].reports.churn_months
        )
    return _rows_page(
        request, signed, ask, rows, "churn-answers", "admin_report_churn_answers.html"
    )


def _rows_page(
    request: web.Request,
    signed: auth.Signed,
    ask: manager.ReportAsk,
    rows: list[dict[str, Any]],
    name: str,
    template: str,
) -> web.StreamResponse:
    """A list behind a number: the page with its filters and a link back, or its CSV."""
    if request.query.get("format") == "csv":
        day = request.app[CLOCK]()
        return csv_download(manager_render.as_csv(rows), f"{name}-{day:%Y-%m-%d}")
    filters = {k: v for k, v in request.query.items() if k != "format"}
    return page(
        request,
        template,
        {
            "account": signed,
            "csrf": signed.csrf,
            "rows": rows[:ON_PAGE],
            "total": len(rows),
            "filters": {k: v for k, v in filters.items() if k not in ("from", "to", "by", "as_of")},
            "csv": urlencode({**filters, "format": "csv"}),
            "back": _query(ask),
        },
    )


routes.get("/admin/reports/tickets/rows")(signed_in_only(_ticket_rows, role="admin"))
routes.get("/admin/reports/faq/answers")(signed_in_only(_faq_answers, role="admin"))
routes.get("/admin/reports/themes/rows")(signed_in_only(_theme_rows, role="admin"))
routes.get("/admin/reports/customers/rows")(signed_in_only(_customer_rows, role="admin"))
routes.get("/admin/reports/customers/answers")(signed_in_only(_churn_answers, role="admin"))
routes.get("/admin/reports/{kind:tickets|faq|customers|themes}")(
    signed_in_only(_report, role="admin")
)


def _dimension_word(dimension: str, key: str, language: str) -> str:
    """A priority or channel as a word; categories, rules and names as they were given."""
    if dimension == "priority" and has(f"pr_{key}"):
        return t(f"pr_{key}", language)
    if dimension == "channel":
        return channel_word(key, language)
    return key
