"""Aggregates for survey reports, computed in SQL from a daily roll-up of the answers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Integer,
    Select,
    SQLColumnExpression,
    case,
    cast,
    func,
    literal,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import dialect_name
from storage.models import Campaign, Delivery, SurveyResponse, SurveyScoreDay, Ticket
from storage.repositories._upsert import upsert_insert
from storage.repositories.customer_months import count_answer


@dataclass(frozen=True)
class ScoreCounts:
    period: str
    n: int  # scored answers (skips excluded)
    total: int  # sum of scores
    high: int  # NPS 9-10, CSAT 4-5, CES 5-7
    low: int  # NPS 0-6


@dataclass(frozen=True)
class ReportFilter:
    kind: str
    since: datetime | None = None
    until: datetime | None = None
    campaign_id: int | None = None
    channel: str | None = None
    by: str | None = None  # None, "week" or "month"


_HIGH = {"nps": 9, "csat": 4, "ces": 5}


async def add_response(session: AsyncSession, response: SurveyResponse) -> None:
    """Store an answer and count its score in the day's roll-up, in the caller's transaction."""
    session.add(response)
    await session.flush()
    await count_in_rollup(session, response, 1)


async def count_in_rollup(session: AsyncSession, response: SurveyResponse, change: int) -> None:
    """Add (1) or take back (-1) an answer's score in its day's roll-up. Skipped and flagged
    answers are not counted; a changed answer is taken back before it changes."""
    if response.score is None or response.flagged is not None:
        return
    await count_answer(session, response, change)
    days = SurveyScoreDay
    statement = upsert_insert(session, days).values(
        kind=response.kind,
        day=response.created_at.astimezone(UTC).date(),
        campaign_id=response.campaign_id or 0,
        channel=response.channel,
        score=response.score,
        answers=max(change, 0),
    )
    statement = statement.on_conflict_do_update(
        index_elements=["kind", "day", "campaign_id", "channel", "score"],
        set_={"answers": days.answers + change},
    )
    await session.execute(statement)


async def flagged_count(session: AsyncSession, report: ReportFilter) -> int:
    """Answers of this report's kind, range, campaign and channel left out as a mail
    scanner's rather than a person's."""
    raw = SurveyResponse
    statement = select(func.count()).where(raw.kind == report.kind, raw.flagged.is_not(None))
    if report.since is not None:
        statement = statement.where(raw.created_at >= report.since)
    if report.until is not None:
        statement = statement.where(raw.created_at < report.until)
    if report.campaign_id is not None:
        statement = statement.where(raw.campaign_id == report.campaign_id)
    if report.channel:
        statement = statement.where(raw.channel == report.channel)
    return int((await session.execute(statement)).scalar_one())


def _period(dialect: str, by: str | None, column: SQLColumnExpression[Any]) -> ColumnElement[Any]:
    """A cheap per-row grouping key; `_label` turns it into the period's first day."""
    if by is None:
        return literal("all")
    if dialect == "postgresql":
        return func.date_trunc(by, column)
    if by == "week":  # whole weeks since Monday 1970-01-05, in arithmetic, not strings
        return cast((func.julianday(column) - 2440591.5) / 7, Integer) - case(
            (func.julianday(column) < 2440591.5, 1), else_=0
        )
    return func.strftime("%Y-%m", column)


_EPOCH_MONDAY = date(1970, 1, 5)


def _label(value: Any, dialect: str, by: str | None) -> str:
    if by is None:
        return "all"
    if dialect == "postgresql":
        return value.date().isoformat() if isinstance(value, datetime) else str(value)[:10]
    if by == "week":
        return (_EPOCH_MONDAY + timedelta(weeks=int(value))).isoformat()
    return f"{value}-01"


def _whole_days(report: ReportFilter) -> bool:
    return all(
        bound is None or bound.astimezone(UTC).timetz() == time(tzinfo=UTC)
        for bound in (report.since, report.until)
    )


async def score_counts(session: AsyncSession, report: ReportFilter) -> list[ScoreCounts]:
    """From the daily roll-up when the range is whole UTC days (what the CLI, /report and the
    monthly report ask), else from the answers themselves."""
    if _whole_days(report):
        return await counts_from_days(session, report)
    return await counts_from_answers(session, report)


async def counts_from_days(session: AsyncSession, report: ReportFilter) -> list[ScoreCounts]:
    """Reads `survey_score_days`; `since`/`until` count as the UTC days they fall on."""
    dialect = dialect_name(session)
    high = _HIGH.get(report.kind, 10_000)
    days = SurveyScoreDay
    # A plain timestamp on PostgreSQL: date_trunc of a date would use the session's zone.
    day = cast(days.day, DateTime()) if dialect == "postgresql" else days.day
    period = _period(dialect, report.by, day).label("period")
    score, answers = days.score, days.answers
    statement = select(
        period,
        func.sum(answers),
        func.sum(score * answers),
        func.sum(case((score >= high, answers), else_=0)),
        func.sum(case((score <= 6, answers), else_=0)),
    ).where(days.kind == report.kind)
    if report.since is not None:
        statement = statement.where(days.day >= report.since.astimezone(UTC).date())
    if report.until is not None:
        statement = statement.where(days.day < report.until.astimezone(UTC).date())
    if report.campaign_id is not None:
        statement = statement.where(days.campaign_id == report.campaign_id)
    if report.channel:
        statement = statement.where(days.channel == report.channel)
    return await _grouped(session, statement, period, report.by)


async def counts_from_answers(session: AsyncSession, report: ReportFilter) -> list[ScoreCounts]:
    """Scans `survey_responses`: exact to the microsecond, and as slow as there are answers."""
    dialect = dialect_name(session)
    high = _HIGH.get(report.kind, 10_000)
    raw = SurveyResponse
    created = raw.created_at
    utc_created = func.timezone("UTC", created) if dialect == "postgresql" else created
    period = _period(dialect, report.by, utc_created).label("period")
    score = raw.score
    statement = select(
        period,
        func.count(score),
        func.sum(score),
        func.sum(case((score >= high, 1), else_=0)),
        func.sum(case((score <= 6, 1), else_=0)),
    ).where(raw.kind == report.kind, score.is_not(None), raw.flagged.is_(None))
    if report.since is not None:
        statement = statement.where(created >= report.since)
    if report.until is not None:
        statement = statement.where(created < report.until)
    if report.campaign_id is not None:
        statement = statement.where(raw.campaign_id == report.campaign_id)
    if report.channel:
        statement = statement.where(raw.channel == report.channel)
    return await _grouped(session, statement, period, report.by)


async def _grouped(
    session: AsyncSession, statement: Select[Any], period: ColumnElement[Any], by: str | None
) -> list[ScoreCounts]:
    dialect = dialect_name(session)
    rows = (await session.execute(statement.group_by(period).order_by(period))).all()
    return [
        ScoreCounts(_label(p, dialect, by), int(n), int(t), int(h), int(lo))
        for p, n, t, h, lo in rows
    ]


@dataclass(frozen=True)
class CampaignRate:
    campaign_id: int
    name: str
    delivered: int  # sent without error: answered and expired ones were delivered too
    answered: int


async def response_rates(
    session: AsyncSession, campaign_id: int | None = None
) -> list[CampaignRate]:
    status = Delivery.status
    statement = (
        select(
            Campaign.id,
            Campaign.name,
            func.coalesce(
                func.sum(case((status.in_(("sent", "answered", "expired")), 1), else_=0)), 0
            ),
            func.coalesce(func.sum(case((status == "answered", 1), else_=0)), 0),
        )
        .join(Delivery, Delivery.campaign_id == Campaign.id)
        .group_by(Campaign.id, Campaign.name)
        .order_by(Campaign.id)
    )
    if campaign_id is not None:
        statement = statement.where(Campaign.id == campaign_id)
    rows = (await session.execute(statement)).all()
    return [CampaignRate(int(i), str(n), int(d), int(a)) for i, n, d, a in rows]


@dataclass(frozen=True)
class TicketCounts:
    period: str
    opened: int
    answered: int  # with a first staff reply
    on_time: int  # first reply by its due time (working hours counted)


async def ticket_counts(
    session: AsyncSession, since: datetime | None, until: datetime | None, by: str | None
) -> list[TicketCounts]:
    """Complaints opened per period, and how many got their first reply, and in time."""
    period = _period(dialect_name(session), by, Ticket.created_at)
    replied = Ticket.first_response_at.is_not(None)
    in_time = replied & (Ticket.due_at.is_(None) | (Ticket.first_response_at <= Ticket.due_at))
    statement = select(
        period,
        func.count(Ticket.id),
        func.coalesce(func.sum(case((replied, 1), else_=0)), 0),
        func.coalesce(func.sum(case((in_time, 1), else_=0)), 0),
    ).where(Ticket.merged_into_id.is_(None))
    if since is not None:
        statement = statement.where(Ticket.created_at >= since)
    if until is not None:
        statement = statement.where(Ticket.created_at < until)
    rows = (await session.execute(statement.group_by(period).order_by(period))).all()
    dialect = dialect_name(session)
    return [TicketCounts(_label(p, dialect, by), int(n), int(a), int(o)) for p, n, a, o in rows]
