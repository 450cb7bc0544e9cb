"""The customer report's numbers, aggregated in SQL from customer_months (one row per customer
and month active, with `first`, the `gap` to their next active month and the month's score
counts), so a report reads a few hundred rows however many customers there are."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Integer, case, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from storage.models import CustomerMonth

_MONTHS = CustomerMonth


@dataclass(frozen=True)
class MonthCounts:
    month: str
    active: int
    new: int
    churned: int  # active and silent in the next `churn_months` months (or not yet back)


@dataclass(frozen=True)
class ScoreSums:
    nps_n: int
    promoters: int
    detractors: int
    csat_n: int
    satisfied: int


def _gone(churn_months: int) -> object:
    return (_MONTHS.gap.is_(None)) | (_MONTHS.gap > churn_months)


async def month_counts(
    session: AsyncSession, first: str, last: str, churn_months: int
) -> dict[str, MonthCounts]:
    rows = await session.execute(
        select(
            _MONTHS.month,
            func.count(),
            func.sum(cast(_MONTHS.first, Integer)),
            func.sum(case((_gone(churn_months), 1), else_=0)),  # type: ignore[arg-type]
        )
        .where(_MONTHS.month >= first, _MONTHS.month <= last)
        .group_by(_MONTHS.month)
    )
    return {str(m): MonthCounts(str(m), int(n), int(f or 0), int(c or 0)) for m, n, f, c in rows}


async def distinct_active(session: AsyncSession, first: str, last: str) -> tuple[int, int]:
    """(customers active in any month from `first` to `last`, of them new in it)."""
    row = (
        await session.execute(
            select(
                func.count(func.distinct(_MONTHS.customer_id)),
                func.sum(cast(_MONTHS.first, Integer)),
            ).where(_MONTHS.month >= first, _MONTHS.month <= last)
        )
    ).one()
    return int(row[0]), int(row[1] or 0)


async def scores_by_churn(
    session: AsyncSession, first: str, last: str, churn_months: int
) -> dict[bool, ScoreSums]:
    """NPS and CSAT counts of the months from `first` to `last`, split by whether the
    customer churned after that month."""
    gone = case((_gone(churn_months), 1), else_=0).label("gone")  # type: ignore[arg-type]
    rows = await session.execute(
        select(
            gone,
            func.sum(_MONTHS.nps_n),
            func.sum(_MONTHS.nps_promoters),
            func.sum(_MONTHS.nps_detractors),
            func.sum(_MONTHS.csat_n),
            func.sum(_MONTHS.csat_satisfied),
        )
        .where(_MONTHS.month >= first, _MONTHS.month <= last)
        .group_by(gone)
    )
    found = {True: ScoreSums(0, 0, 0, 0, 0), False: ScoreSums(0, 0, 0, 0, 0)}
    for g, *sums in rows:
        found[bool(g)] = ScoreSums(*(int(v or 0) for v in sums))
    return found


async def cohorts(session: AsyncSession, first: str, last: str) -> dict[str, dict[str, int]]:
    """Cohort (first month, from `first` to `last`) -> later month -> how many wrote then."""
    later = aliased(CustomerMonth)
    rows = await session.execute(
        select(_MONTHS.month, later.month, func.count())
        .join(later, (later.customer_id == _MONTHS.customer_id) & (later.month >= _MONTHS.month))
        .where(
            _MONTHS.first.is_(True),
            _MONTHS.month >= first,
            _MONTHS.month <= last,
            later.month <= last,
        )
        .group_by(_MONTHS.month, later.month)
    )
    found: dict[str, dict[str, int]] = {}
    for cohort, month, n in rows:
        found.setdefault(str(cohort), {})[str(month)] = int(n)
    return found
