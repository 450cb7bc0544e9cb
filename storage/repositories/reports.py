"""Aggregates for survey reports, computed in SQL (one scan, grouped by period)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Integer, case, cast, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Campaign, Delivery, SurveyResponse


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


def _period(dialect: str, by: str | None) -> ColumnElement[Any]:
    """A cheap per-row grouping key; `_label` turns it into the period's first day."""
    column = SurveyResponse.created_at
    if by is None:
        return literal("all")
    if dialect == "postgresql":
        return func.date_trunc(by, func.timezone("UTC", column))
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


async def score_counts(session: AsyncSession, report: ReportFilter) -> list[ScoreCounts]:
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    score = SurveyResponse.score
    period = _period(dialect, report.by).label("period")
    high = _HIGH.get(report.kind, 10_000)
    statement = (
        select(
            period,
            func.count(score),
            func.coalesce(func.sum(score), 0),
            func.coalesce(func.sum(case((score >= high, 1), else_=0)), 0),
            func.coalesce(func.sum(case((score <= 6, 1), else_=0)), 0),
        )
        .where(SurveyResponse.kind == report.kind, score.is_not(None))
        .group_by(period)
        .order_by(period)
    )
    if report.since is not None:
        statement = statement.where(SurveyResponse.created_at >= report.since)
    if report.until is not None:
        statement = statement.where(SurveyResponse.created_at < report.until)
    if report.campaign_id is not None:
        statement = statement.where(SurveyResponse.campaign_id == report.campaign_id)
    if report.channel:
        statement = statement.where(SurveyResponse.channel == report.channel)
    rows = (await session.execute(statement)).all()
    return [
        ScoreCounts(_label(p, dialect, report.by), int(n), int(t), int(h), int(lo))
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
