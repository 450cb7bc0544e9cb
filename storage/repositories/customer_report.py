"""The customer report's numbers, aggregated in SQL from customer_months (one row per customer
and month active, with `first`, the `gap` to their next active month and the month's score
counts), so a report reads a few hundred rows however many customers there are."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple, dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Integer, and_, cast, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement

from storage.db import dialect_name
from storage.models import Customer, CustomerMonth, SurveyResponse

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


# -- the customers and answers behind a number ------------------------------------------------

CUSTOMER_SETS = ("active", "new", "returning", "churned")


@dataclass(frozen=True)
class CustomerOfMonth:
    customer_id: int
    name: str
    new: bool
    next_month: str | None  # when they were next active


async def customers_of_month(
    session: AsyncSession, month: str, which: str, churn_months: int
) -> list[CustomerOfMonth]:
    """The customers a month's figure counts: active in it, new, returning, or churned after
    it (silent in the next `churn_months` months), by id."""
    if which not in CUSTOMER_SETS:
        raise ValueError(f"which: one of {', '.join(CUSTOMER_SETS)}")
    choices: dict[str, list[ColumnElement[bool]]] = {
        "active": [],
        "new": [_MONTHS.first.is_(True)],
        "returning": [_MONTHS.first.is_(False)],
        "churned": [or_(_MONTHS.gap.is_(None), _MONTHS.gap > churn_months)],
    }
    wanted = choices[which]
    rows = await session.execute(
        select(_MONTHS.customer_id, Customer.display_name, _MONTHS.first, _MONTHS.gap)
        .join(Customer, Customer.id == _MONTHS.customer_id)
        .where(_MONTHS.month == month, *wanted)
        .order_by(_MONTHS.customer_id)
    )
    return [
        CustomerOfMonth(
            int(c), str(name or ""), bool(first), None if gap is None else _plus(month, gap)
        )
        for c, name, first, gap in rows.all()
    ]


def _plus(month: str, months: int) -> str:
    number = int(month[:4]) * 12 + int(month[5:7]) - 1 + months
    return f"{number // 12:04d}-{number % 12 + 1:02d}"


@dataclass(frozen=True)
class ScoredAnswer:
    answer_id: int
    customer_id: int
    kind: str
    score: int
    comment: str
    at: datetime


async def answers_of_churn(
    session: AsyncSession, months: Sequence[str], churned: bool, churn_months: int
) -> list[ScoredAnswer]:
    """The NPS and CSAT answers the churned-versus-retained figures count: given in `months`
    by customers who churned after that month (or stayed), scanner clicks left out, by id."""
    if not months:
        return []
    answer = SurveyResponse
    gone = or_(_MONTHS.gap.is_(None), _MONTHS.gap > churn_months)
    rows = await session.execute(
        select(
            answer.id,
            answer.customer_id,
            answer.kind,
            answer.score,
            answer.comment,
            answer.created_at,
        )
        .join(
            _MONTHS,
            and_(
                _MONTHS.customer_id == answer.customer_id,
                _MONTHS.month == _month_of(answer.__table__.c.created_at, dialect_name(session)),
            ),
        )
        .where(
            answer.kind.in_(("nps", "csat")),
            answer.score.is_not(None),
            answer.flagged.is_(None),
            answer.created_at >= _start(months[0]),
            answer.created_at < _start(_plus(months[-1], 1)),
            _MONTHS.month.in_(list(months)),
            gone if churned else ~gone,
        )
        .order_by(answer.id)
    )
    return [
        ScoredAnswer(int(i), int(c or 0), str(k), int(s or 0), str(comment or ""), at)
        for i, c, k, s, comment, at in rows.all()
    ]


def _month_of(column: Any, dialect: str) -> Any:
    """A UTC timestamp's month as customer_months writes it (YYYY-MM)."""
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM")
    return func.substr(column, 1, 7)  # stored as UTC text


def _start(month: str) -> datetime:
    return datetime(int(month[:4]), int(month[5:7]), 1, tzinfo=UTC)
