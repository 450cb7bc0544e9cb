"""Keeping customer_months right as customers write and answer: one row per customer and
UTC month they were active, its `first` flag and the `gap` to their next active month kept
true whatever order the months arrive in, and the month's NPS and CSAT counts."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import dialect_name
from storage.models import Customer, CustomerMonth, SurveyResponse
from storage.repositories._upsert import upsert_insert

_COUNTS = ("nps_n", "nps_promoters", "nps_detractors", "csat_n", "csat_satisfied")


def month_of(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m}"


def month_index(month: str) -> int:
    return int(month[:4]) * 12 + int(month[5:7])


async def note_active(session: AsyncSession, customer_id: int, month: str) -> None:
    """They were active in `month`: its row, once. A new row also looks up the months either
    side to set `first` and the gaps (the conversation calls this once a month a customer).
    Run on the session's connection, not through the ORM: an ORM read would first write the
    conversation log rows a batch keeps back to write in one INSERT."""
    conn = await session.connection()
    # One customer's months are worked out one transaction at a time: two months stored side
    # by side would each miss the other (neither committed yet) and leave a gap wrong. SQLite
    # has one writer already; PostgreSQL locks the customer's row first (the conversation
    # updates that row before it gets here, so the order is always customer, then month).
    if dialect_name(session) == "postgresql":
        await conn.execute(select(Customer.id).where(Customer.id == customer_id).with_for_update())
    table = CustomerMonth.__table__
    inserted = await conn.execute(
        upsert_insert(session, table)
        .values(customer_id=customer_id, month=month)
        .on_conflict_do_nothing(index_elements=["customer_id", "month"])
        .returning(table.c.month)
    )
    if inserted.first() is None:
        return
    months = CustomerMonth
    mine = (months.customer_id == customer_id,)
    previous = (
        await conn.execute(select(func.max(months.month)).where(*mine, months.month < month))
    ).scalar_one_or_none()
    following = (
        await conn.execute(select(func.min(months.month)).where(*mine, months.month > month))
    ).scalar_one_or_none()
    values: dict[str, object] = {"first": previous is None}
    if following is not None:
        values["gap"] = month_index(following) - month_index(month)
    await conn.execute(update(months).where(*mine, months.month == month).values(**values))
    if previous is not None:
        await conn.execute(
            update(months)
            .where(*mine, months.month == previous)
            .values(gap=month_index(month) - month_index(previous))
        )
    elif following is not None:
        await conn.execute(
            update(months).where(*mine, months.month == following).values(first=False)
        )


async def count_answer(session: AsyncSession, response: SurveyResponse, change: int) -> None:
    """Add (1) or take back (-1) an NPS or CSAT answer in its customer's month."""
    if (
        response.kind not in ("nps", "csat")
        or response.score is None
        or response.customer_id is None
        or response.flagged is not None
    ):
        return
    month = month_of(response.created_at)
    await note_active(session, response.customer_id, month)
    months = CustomerMonth
    score = response.score
    if response.kind == "nps":
        values = {
            "nps_n": months.nps_n + change,
            "nps_promoters": months.nps_promoters + (change if score >= 9 else 0),
            "nps_detractors": months.nps_detractors + (change if score <= 6 else 0),
        }
    else:
        values = {
            "csat_n": months.csat_n + change,
            "csat_satisfied": months.csat_satisfied + (change if score >= 4 else 0),
        }
    await session.execute(
        update(months)
        .where(months.customer_id == response.customer_id, months.month == month)
        .values(**values)
    )


async def merge_months(session: AsyncSession, source_id: int, target_id: int) -> None:
    """The two customers' months as one customer's: counts of a month both had added, first
    and gaps worked out again."""
    rows = (
        await session.execute(
            select(CustomerMonth).where(CustomerMonth.customer_id.in_((source_id, target_id)))
        )
    ).scalars()
    combined: dict[str, dict[str, int]] = {}
    for row in rows:
        counts = combined.setdefault(row.month, dict.fromkeys(_COUNTS, 0))
        for name in _COUNTS:
            counts[name] += getattr(row, name)
    await session.execute(
        delete(CustomerMonth).where(CustomerMonth.customer_id.in_((source_id, target_id)))
    )
    ordered = sorted(combined)
    for index, month in enumerate(ordered):
        following = ordered[index + 1] if index + 1 < len(ordered) else None
        session.add(
            CustomerMonth(
                customer_id=target_id,
                month=month,
                first=index == 0,
                gap=None if following is None else month_index(following) - month_index(month),
                **combined[month],
            )
        )
    await session.flush()
