"""The manager reports (tickets, faq, customers) asked for the same way from every adapter
(the CLI, the API, the Telegram /report, the web console): which report, which days, grouped
by what; and the rows behind a number, filtered as its link says."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.hours import WorkingHours
from bot.core.work_clock import working_seconds
from bot.reports import customers, self_service, themes, tickets
from bot.reports.periods import (
    EARLIEST,
    LATEST,
    PERIODS,
    Window,
    WindowError,
    spans,
    window,
)
from storage.repositories.ticket_report import RowFilter, fill_missing_times
from storage.repositories.ticket_report import ticket_rows as read_rows

KINDS = ("tickets", "faq", "customers", "themes")
TICKET_FILTERS = ("category", "channel", "priority", "rule", "assignee")


@dataclass(frozen=True)
class ReportAsk:
    kind: str
    first: date | None = None
    last: date | None = None
    by: str = "week"
    as_of: date | None = None  # tickets: the backlog on this day's end instead of the window's


def default_window(ask: ReportAsk, hours: WorkingHours, now: datetime) -> Window:
    """The days asked for; by default the last 30 days (customers: the six months up to this
    one)."""
    today = now.astimezone(hours.zone).date()
    if ask.as_of is not None and not EARLIEST <= ask.as_of <= LATEST:
        raise WindowError(f"as_of: a day from {EARLIEST} to {LATEST}")
    if ask.kind == "customers" and ask.first is None:
        last = ask.last or today
        start = date(last.year, last.month, 1)
        for _ in range(5):
            start = date((start - timedelta(days=1)).year, (start - timedelta(days=1)).month, 1)
        return window(start, last, hours.zone, today)
    return window(ask.first, ask.last, hours.zone, today)


def asked_window(
    ask: ReportAsk, hours: WorkingHours, now: datetime, previous: bool = False
) -> Window:
    """The days asked for, or (`previous`) the same length before them: what a list behind
    a number of the report or of its previous period reads."""
    span = default_window(ask, hours, now)
    return span.previous() if previous else span


def backlog_moment(ask: ReportAsk, hours: WorkingHours) -> datetime | None:
    """The end of the `as_of` day, if one was asked for: the backlog's moment."""
    return None if ask.as_of is None else Window(ask.as_of, ask.as_of, hours.zone).until


async def build(
    session: AsyncSession,
    ask: ReportAsk,
    hours: WorkingHours,
    now: datetime,
    churn_months: int = 1,
) -> dict[str, Any]:
    if ask.kind not in KINDS:
        raise ValueError(f"unknown report {ask.kind!r}: one of {', '.join(KINDS)}")
    if ask.by not in PERIODS:
        raise ValueError(f"by: one of {', '.join(PERIODS)}")
    span = default_window(ask, hours, now)
    if ask.kind == "tickets":
        return await tickets.build(session, hours, span, now, ask.by, backlog_moment(ask, hours))
    if ask.kind == "faq":
        return await self_service.build(session, span, ask.by)
    if ask.kind == "themes":
        return await themes.build(session, span)
    return await customers.build(session, span, now.astimezone(hours.zone).date(), churn_months)


@dataclass(frozen=True)
class TicketFilter:
    """What a number in the ticket report links to: the tickets it counts."""

    category: str | None = None
    channel: str | None = None
    priority: str | None = None
    rule: str | None = None
    assignee: str | None = None
    period: str | None = None  # with `by`
    breached: bool | None = None
    reopened: bool | None = None
    backlog: bool = False  # the open tickets at the window's end instead of those opened in it
    previous: bool = False  # the window before

    def equal(self) -> tuple[tuple[str, str], ...]:
        """The dimensions asked for; "—" (how the report shows none) is the empty value."""
        return tuple(
            (name, "" if value == "—" else value)
            for name in TICKET_FILTERS
            if (value := getattr(self, name)) is not None
        )


async def ticket_rows(
    session: AsyncSession,
    ask: ReportAsk,
    hours: WorkingHours,
    now: datetime,
    keep: TicketFilter = TicketFilter(),
) -> list[dict[str, Any]]:
    """One row per ticket behind a number of the report (its CSV export), chosen in SQL."""
    span = asked_window(ask, hours, now, keep.previous)
    await fill_missing_times(session, span.since, span.until, partial(working_seconds, hours))
    found = RowFilter(equal=keep.equal(), breached=keep.breached, reopened=keep.reopened)
    if keep.backlog:
        found = replace(found, open_at=min(backlog_moment(ask, hours) or span.until, now))
    elif keep.period is not None:
        bounds = [(a, b) for label, a, b in spans(span, ask.by) if label == keep.period]
        if not bounds:
            return []
        found = replace(found, since=bounds[0][0], until=bounds[0][1])
    else:
        found = replace(found, since=span.since, until=span.until)
    return tickets.ticket_list(await read_rows(session, found, now))


@dataclass(frozen=True)
class AnswerFilter:
    """What a number in the FAQ report links to: the FAQ answers it counts."""

    entry: int | None = None
    followed: bool | None = None  # by a ticket within 24 hours (False: the deflected ones)
    previous: bool = False


async def faq_answer_rows(
    session: AsyncSession,
    ask: ReportAsk,
    hours: WorkingHours,
    now: datetime,
    keep: AnswerFilter = AnswerFilter(),
) -> list[dict[str, Any]]:
    """One row per FAQ answer behind a number of the FAQ report (its CSV export)."""
    span = asked_window(ask, hours, now, keep.previous)
    return await self_service.answer_list(session, span, keep.entry, keep.followed)


async def theme_rows(
    session: AsyncSession,
    ask: ReportAsk,
    hours: WorkingHours,
    now: datetime,
    group: str,
    phrase: str,
    previous: bool = False,
) -> list[dict[str, Any]]:
    """One row per answer (or ticket) behind a theme of the themes report."""
    span = asked_window(ask, hours, now, previous)
    return await themes.theme_list(session, span, group, phrase)


@dataclass(frozen=True)
class CustomerFilter:
    """What a number in the customer report links to: a month's customers (active, new,
    returning, churned), or the answers behind the churned or retained scores."""

    month: str | None = None  # YYYY-MM, with `which`
    which: str = "active"
    churned: bool | None = None  # the answers of churned (True) or retained (False) customers


MONTH_PATTERN = re.compile(r"^(20\d\d|2100)-(0[1-9]|1[0-2])$")


async def customer_rows(
    session: AsyncSession,
    ask: ReportAsk,
    hours: WorkingHours,
    now: datetime,
    keep: CustomerFilter,
    churn_months: int = 1,
) -> list[dict[str, Any]]:
    """One row per customer (or answer) behind a number of the customer report."""
    if keep.churned is not None:
        span = default_window(ask, hours, now)
        today = now.astimezone(hours.zone).date()
        return await customers.churn_answer_list(session, span, today, keep.churned, churn_months)
    if keep.month is None or not MONTH_PATTERN.match(keep.month):
        raise WindowError("month: YYYY-MM, from 2000-01 to 2100-12")
    return await customers.customer_list(session, keep.month, keep.which, churn_months)
