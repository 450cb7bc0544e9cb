"""Aggregates for survey reports, computed in SQL (one scan, grouped by period)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, case, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import SurveyResponse


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


def _period(dialect: str, by: str | None) -> ColumnElement[str]:
    column = SurveyResponse.created_at
    if by is None:
        return literal("all")
    if dialect == "postgresql":
        truncated = func.date_trunc(by, func.timezone("UTC", column))
        return func.to_char(truncated, "YYYY-MM-DD")
    if by == "week":  # Monday of the week, as date_trunc('week') gives on PostgreSQL
        return func.date(column, "weekday 0", "-6 days")
    return func.strftime("%Y-%m-01", column)


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
    return [ScoreCounts(str(p), int(n), int(t), int(h), int(lo)) for p, n, t, h, lo in rows]
