"""The rows the customer report is computed from: who wrote in which month (customer_months,
kept as messages arrive), when each of them first wrote, and their scored survey answers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import CustomerMonth, SurveyResponse


async def active_months(session: AsyncSession, first: str, last: str) -> list[tuple[int, str]]:
    """(customer, month) for every month from `first` to `last` ("2026-01"), inclusive."""
    rows = await session.execute(
        select(CustomerMonth.customer_id, CustomerMonth.month).where(
            CustomerMonth.month >= first, CustomerMonth.month <= last
        )
    )
    return [(int(c), str(m)) for c, m in rows.all()]


async def first_months(session: AsyncSession, first: str, last: str) -> dict[int, str]:
    """The month each customer active from `first` to `last` first wrote in, ever."""
    seen = select(CustomerMonth.customer_id).where(
        CustomerMonth.month >= first, CustomerMonth.month <= last
    )
    rows = await session.execute(
        select(CustomerMonth.customer_id, func.min(CustomerMonth.month))
        .where(CustomerMonth.customer_id.in_(seen.scalar_subquery()))
        .group_by(CustomerMonth.customer_id)
    )
    return {int(c): str(m) for c, m in rows.all()}


async def scored_answers(
    session: AsyncSession, since: datetime, until: datetime
) -> list[tuple[int, str, int, datetime]]:
    """(customer, kind, score, when) of NPS and CSAT answers by known customers, scanner
    clicks left out."""
    answer = SurveyResponse
    rows = await session.execute(
        select(answer.customer_id, answer.kind, answer.score, answer.created_at).where(
            answer.created_at >= since,
            answer.created_at < until,
            answer.kind.in_(("nps", "csat")),
            answer.score.is_not(None),
            answer.customer_id.is_not(None),
            answer.flagged.is_(None),
        )
    )
    return [(int(c or 0), str(k), int(s or 0), at) for c, k, s, at in rows.all()]
