"""The customer report's numbers, aggregated in SQL from customer_months (one row per customer
and month active, with `first`, the `gap` to their next active month and the month's score
counts), so a report reads a few hundred rows however many customers there are."""

from __future__ import annotations

from dataclasses import astuple, dataclass

from sqlalchemy import Integer, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

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
    """The customers active in a month with the same gap to their next active month."""

    month: str
    gap: int | None  # months until they were next active; None: not since
    active: int
    new: int
    scores: ScoreSums

    def churned(self, churn_months: int) -> bool:
        """Silent in the next `churn_months` months (or not yet back)."""
        return self.gap is None or self.gap > churn_months


async def month_parts(session: AsyncSession, first: str, last: str) -> list[MonthPart]:
    """Each month from `first` to `last` split by the gap to the next active month, with the
    counts and score sums: one read of the months' index in its own order (grouped the way
    it is sorted, so nothing is sorted again), a few dozen rows a month. Churn, for any
    `churn_months`, and distinct customers over any run of months follow from the gaps."""
    rows = await session.execute(
        select(
            _MONTHS.month,
            _MONTHS.gap,
            func.count(),
            func.sum(cast(_MONTHS.first, Integer)),
            func.sum(_MONTHS.nps_n),
            func.sum(_MONTHS.nps_promoters),
            func.sum(_MONTHS.nps_detractors),
            func.sum(_MONTHS.csat_n),
            func.sum(_MONTHS.csat_satisfied),
        )
        .where(_MONTHS.month >= first, _MONTHS.month <= last)
        .group_by(_MONTHS.month, _MONTHS.gap)
    )
    return [
        MonthPart(
            str(m),
            None if g is None else int(g),
            int(n),
            int(f or 0),
            ScoreSums(*(int(v or 0) for v in sums)),
        )
        for m, g, n, f, *sums in rows
    ]


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
