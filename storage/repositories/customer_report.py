"""The customer report's numbers, aggregated in SQL from customer_months (one row per customer
and month active, with `first`, the `gap` to their next active month and the month's score
counts), so a report reads a few hundred rows however many customers there are."""

from __future__ import annotations

from dataclasses import astuple, dataclass

from sqlalchemy import Integer, case, cast, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement

from storage.models import CustomerMonth

_MONTHS = CustomerMonth


@dataclass(frozen=True)
class ScoreSums:
    nps_n: int = 0
    promoters: int = 0
    detractors: int = 0
    csat_n: int = 0
    satisfied: int = 0

    def __add__(self, other: ScoreSums) -> ScoreSums:
        return ScoreSums(*(a + b for a, b in zip(astuple(self), astuple(other), strict=True)))


@dataclass(frozen=True)
class MonthPart:
    """The customers active in a month who churned after it, or those who did not."""

    month: str
    churned: bool  # silent in the next `churn_months` months (or not yet back)
    active: int
    new: int
    scores: ScoreSums


def _gone(churn_months: int) -> ColumnElement[bool]:
    return or_(_MONTHS.gap.is_(None), _MONTHS.gap > churn_months)


async def month_parts(
    session: AsyncSession, first: str, last: str, churn_months: int
) -> list[MonthPart]:
    """Each month from `first` to `last` in two parts, churned after it or not, with their
    counts and score sums: one read of the months' index, two rows a month."""
    gone = case((_gone(churn_months), 1), else_=0).label("gone")
    rows = await session.execute(
        select(
            _MONTHS.month,
            gone,
            func.count(),
            func.sum(cast(_MONTHS.first, Integer)),
            func.sum(_MONTHS.nps_n),
            func.sum(_MONTHS.nps_promoters),
            func.sum(_MONTHS.nps_detractors),
            func.sum(_MONTHS.csat_n),
            func.sum(_MONTHS.csat_satisfied),
        )
        .where(_MONTHS.month >= first, _MONTHS.month <= last)
        .group_by(_MONTHS.month, gone)
    )
    return [
        MonthPart(str(m), bool(g), int(n), int(f or 0), ScoreSums(*(int(v or 0) for v in sums)))
        for m, g, n, f, *sums in rows
    ]


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
