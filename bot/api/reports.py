"""Reports over the API: NPS (with its margin of error), CSAT, CES and response rates, as JSON
or CSV, the same numbers `otklik report` prints; and the FAQ's gaps, as `otklik faq gaps`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, time, timedelta
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from bot.api import schemas
from bot.api.operations import ApiError, Call, Operation
from bot.core.hours import WorkingHours
from bot.core.understanding.gaps import find_gaps
from bot.reports import manager
from bot.reports import render as manager_render
from bot.reports.periods import WindowError
from bot.reports.surveys import rate_rows, render, rows_for
from bot.web.downloads import csv_download
from bot.web.keys import CLOCK, CONVERSATION, HOURS, SESSION_POOL, SETTINGS
from storage.repositories.faq_gaps import SUGGESTED, UNANSWERED, UNHELPFUL, FaqGaps
from storage.repositories.reports import ReportFilter, flagged_count, response_rates, score_counts

MODELS: dict[str, type[BaseModel]] = {
    "nps": schemas.NpsReport,
    "csat": schemas.CsatReport,
    "ces": schemas.CesReport,
    "response-rate": schemas.RateReport,
}


def _report(metric: str) -> Callable[[Call], Awaitable[Any]]:
    async def handler(call: Call) -> Any:
        query: schemas.ReportQuery = call.query
        since, until = _window(query)
        left_out = 0
        async with call.request.app[SESSION_POOL]() as session:
            if metric == "response-rate":
                rows = rate_rows(await response_rates(session, query.campaign))
            else:
                report = ReportFilter(metric, since, until, query.campaign, query.channel, query.by)
                rows = rows_for(metric, await score_counts(session, report))
                left_out = await flagged_count(session, report)
        if query.format == "csv":
            return web.Response(
                text=render(metric, rows, "csv"),
                content_type="text/csv",
                headers={"Content-Disposition": f'attachment; filename="{metric}.csv"'},
            )
        found: dict[str, Any] = {"metric": metric, "rows": rows}
        if metric != "response-rate":
            found["left_out"] = left_out
        return MODELS[metric].model_validate(found)

    handler.__name__ = f"report_{metric.replace('-', '_')}"
    return handler


def _window(
    query: schemas.ReportQuery | schemas.GapsQuery,
) -> tuple[datetime | None, datetime | None]:
    since = datetime.combine(query.from_, time(), UTC) if query.from_ else None
    until = datetime.combine(query.to + timedelta(days=1), time(), UTC) if query.to else None
    return since, until


def _ask(kind: str, query: schemas.ManagerReportQuery) -> manager.ReportAsk:
    if query.from_ and query.to and query.from_ > query.to:
        raise ApiError(422, "query field 'from': after 'to'", "from")
    return manager.ReportAsk(kind, query.from_, query.to, query.by, query.as_of)


def _manager_report(kind: str) -> Callable[[Call], Awaitable[Any]]:
    async def handler(call: Call) -> Any:
        query: schemas.ManagerReportQuery = call.query
        app = call.request.app
        ask = _ask(kind, query)
        try:
            async with app[SESSION_POOL]() as session:
                found = await manager.build(
                    session, ask, app[HOURS], app[CLOCK](), app[SETTINGS].reports.churn_months
                )
        except WindowError as exc:
            raise ApiError(422, f"query fields 'from' and 'to': {exc}", "from") from None
        if query.format == "csv":
            return csv_download(manager_render.as_csv(manager_render.figure_rows(found)), kind)
        return schemas.ManagerReport.model_validate(found)

    handler.__name__ = f"report_{kind}"
    return handler


async def ticket_rows(call: Call) -> Any:
    query: schemas.TicketRowsQuery = call.query
    keep = manager.TicketFilter(
        category=query.category,
        channel=query.channel,
        priority=query.priority,
        rule=query.rule,
        assignee=query.assignee,
        period=query.period,
        breached=query.breached,
        reopened=query.reopened,
        backlog=query.backlog,
        previous=query.previous,
    )
    return await _listed(
        call,
        "tickets",
        lambda session, ask, hours, now: manager.ticket_rows(session, ask, hours, now, keep),
        schemas.TicketRows,
        "tickets",
    )


async def faq_answer_rows(call: Call) -> Any:
    query: schemas.FaqAnswerRowsQuery = call.query
    keep = manager.AnswerFilter(query.entry, query.followed, query.previous)
    return await _listed(
        call,
        "faq",
        lambda session, ask, hours, now: manager.faq_answer_rows(session, ask, hours, now, keep),
        schemas.FaqAnswerRows,
        "answers",
        "faq-answers",
    )


async def theme_rows(call: Call) -> Any:
    query: schemas.ThemeRowsQuery = call.query
    return await _listed(
        call,
        "themes",
        lambda session, ask, hours, now: manager.theme_rows(
            session, ask, hours, now, query.group, query.phrase, query.previous
        ),
        schemas.ThemeRows,
        "texts",
        "theme",
    )


async def customer_rows(call: Call) -> Any:
    query: schemas.CustomerRowsQuery = call.query
    keep = manager.CustomerFilter(month=query.month, which=query.which)
    return await _listed(
        call, "customers", _customers(call, keep), schemas.CustomerRows, "customers"
    )


async def churn_answers(call: Call) -> Any:
    query: schemas.ChurnAnswersQuery = call.query
    keep = manager.CustomerFilter(churned=query.churned)
    return await _listed(
        call, "customers", _customers(call, keep), schemas.ChurnAnswers, "answers", "churn-answers"
    )


RowsReader = Callable[
    [AsyncSession, manager.ReportAsk, WorkingHours, datetime], Awaitable[list[dict[str, Any]]]
]


def _customers(call: Call, keep: manager.CustomerFilter) -> RowsReader:
    churn_months = call.request.app[SETTINGS].reports.churn_months

    async def read(
        session: AsyncSession, ask: manager.ReportAsk, hours: WorkingHours, now: datetime
    ) -> list[dict[str, Any]]:
        return await manager.customer_rows(session, ask, hours, now, keep, churn_months)

    return read


async def _listed(
    call: Call,
    kind: str,
    read: RowsReader,
    model: type[schemas.Model],
    key: str,
    name: str = "",
) -> Any:
    """The rows behind a number of report `kind`: JSON as `model` ({key: rows}), or CSV."""
    query: schemas.ManagerReportQuery = call.query
    app = call.request.app
    try:
        async with app[SESSION_POOL]() as session:
            rows = await read(session, _ask(kind, query), app[HOURS], app[CLOCK]())
    except WindowError as exc:
        raise ApiError(422, f"query fields 'from' and 'to': {exc}", "from") from None
    if getattr(query, "format", "json") == "csv":
        return csv_download(manager_render.as_csv(rows), name or key)
    return model.model_validate({key: rows})


async def faq_gaps(call: Call) -> schemas.GapsReport:
    query: schemas.GapsQuery = call.query
    since, until = _window(query)
    app = call.request.app
    async with app[SESSION_POOL]() as session:
        misses = await FaqGaps(session).misses(since, until)
        matcher = await app[CONVERSATION].faq.matcher(session)
        gaps = await find_gaps(matcher, misses, query.min)
    groups = []
    for gap in gaps:
        nearest, doc = gap.nearest, gap.entry
        groups.append(
            schemas.Gap(
                count=gap.count,
                examples=gap.examples,
                unanswered=gap.kinds[UNANSWERED],
                suggested=gap.kinds[SUGGESTED],
                unhelpful=gap.kinds[UNHELPFUL],
                last_seen=gap.last_seen,
                nearest=None
                if nearest is None or doc is None
                else schemas.GapEntry(
                    entry_id=nearest.entry_id,
                    slug=doc.slug,
                    language=doc.language,
                    question=doc.question,
                    score=nearest.score,
                ),
            )
        )
    return schemas.GapsReport(misses=len(misses), groups=groups)


OPERATIONS = (
    [
        Operation(
            "GET",
            f"/api/v1/reports/{metric}",
            summary,
            _report(metric),
            MODELS[metric],
            query=schemas.ReportQuery,
            alternate="text/csv",
        )
        for metric, summary in (
            ("nps", "NPS = 100·(P − D)/N with its 95 % margin of error, per period"),
            ("csat", "CSAT: the share of 4 and 5, per period"),
            ("ces", "CES: the mean and the share of 5-7, per period"),
            ("response-rate", "Answered / delivered, per campaign"),
        )
    ]
    + [
        Operation(
            "GET",
            "/api/v1/reports/faq-gaps",
            "What customers asked that the FAQ did not answer, grouped by meaning",
            faq_gaps,
            schemas.GapsReport,
            roles=("admin",),
            query=schemas.GapsQuery,
        )
    ]
    + [
        Operation(
            "GET",
            f"/api/v1/reports/{kind}",
            summary,
            _manager_report(kind),
            schemas.ManagerReport,
            query=schemas.ManagerReportQuery,
            alternate="text/csv",
        )
        for kind, summary in (
            (
                "tickets",
                "Ticket volume, first reply and resolution (wall clock and working hours), "
                "targets, breaches, reopens, backlog and staff, beside the previous period",
            ),
            ("faq", "FAQ deflection, helpfulness per entry, entries followed by a ticket"),
            (
                "customers",
                "Active, new and returning customers, churn, churned vs retained, cohorts",
            ),
            (
                "themes",
                "What detractors, passives, promoters and tickets talk about: key phrases with "
                "counts, the previous period's and quotes; NPS change against the combined margin",
            ),
        )
    ]
    + [
        Operation(
            "GET",
            "/api/v1/reports/tickets/rows",
            "The tickets behind a number of the ticket report, one row each (format=csv)",
            ticket_rows,
            schemas.TicketRows,
            query=schemas.TicketRowsQuery,
            alternate="text/csv",
        ),
        Operation(
            "GET",
            "/api/v1/reports/faq/answers",
            "The FAQ answers behind a number of the FAQ report, one row each (format=csv)",
            faq_answer_rows,
            schemas.FaqAnswerRows,
            query=schemas.FaqAnswerRowsQuery,
            alternate="text/csv",
        ),
        Operation(
            "GET",
            "/api/v1/reports/themes/rows",
            "The answers (or tickets) behind a theme of the themes report, one row each; "
            "no customer named (format=csv)",
            theme_rows,
            schemas.ThemeRows,
            query=schemas.ThemeRowsQuery,
            alternate="text/csv",
        ),
        Operation(
            "GET",
            "/api/v1/reports/customers/rows",
            "The customers behind a month's figure of the customer report (active, new, "
            "returning, churned), one row each (format=csv)",
            customer_rows,
            schemas.CustomerRows,
            query=schemas.CustomerRowsQuery,
            alternate="text/csv",
        ),
        Operation(
            "GET",
            "/api/v1/reports/customers/answers",
            "The NPS and CSAT answers behind the churned (or retained) scores of the customer "
            "report, one row each (format=csv)",
            churn_answers,
            schemas.ChurnAnswers,
            query=schemas.ChurnAnswersQuery,
            alternate="text/csv",
        ),
    ]
)
