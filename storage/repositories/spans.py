"""Counting rows per period in SQL: the caller cuts a report's window into labelled spans in
the business's zone (days, weeks, months, across the daylight-saving change) and the database
counts the rows whose time falls in each, so a period means the same on SQLite, which has no
time zones, as on PostgreSQL, and no row is read out to be counted."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import String, and_, column, func, select, values
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from storage.models import Base, UtcDateTime

Span = tuple[str, datetime, datetime]  # (label, since, until)


async def count_per_span(
    session: AsyncSession,
    spans: Sequence[Span],
    model: type[Base],
    moment: Any,
    *conditions: ColumnElement[bool],
) -> dict[str, int]:
    """Rows of `model` with `moment` (its timestamp column) in each span and meeting
    `conditions`, by label; a span with none is left out."""
    if not spans:
        return {}
    # WITH spans(label, since, until) AS (VALUES ...): SQLite has no alias list on VALUES.
    table = (
        values(
            column("label", String),
            column("since", UtcDateTime()),
            column("until", UtcDateTime()),
            name="spans",
        )
        .data(list(spans))
        .cte()
    )
    statement = (
        select(table.c.label, func.count())
        .select_from(table)
        .join(
            model,
            and_(moment >= table.c.since, moment < table.c.until, *conditions),
        )
        .group_by(table.c.label)
    )
    return {str(label): int(n) for label, n in (await session.execute(statement)).all()}
