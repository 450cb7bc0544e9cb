"""Dialect-aware INSERT ... ON CONFLICT DO NOTHING, the building block of idempotency."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


async def insert_ignore(
    session: AsyncSession, table: Table, values: dict[str, Any], conflict: list[str]
) -> int | None:
    """Insert a row unless one with the same `conflict` columns exists; return the new id."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    module: Any = postgresql if dialect == "postgresql" else sqlite
    statement = (
        module.insert(table)
        .values(**values)
        .on_conflict_do_nothing(index_elements=conflict)
        .returning(table.c.id)
    )
    result = await session.execute(statement)
    row = result.first()
    return None if row is None else int(row[0])


async def insert_ignore_many(
    session: AsyncSession,
    table: Table,
    rows: list[dict[str, Any]],
    conflict: list[str],
    chunk: int = 1000,
) -> int:
    """Insert rows in chunks (one multi-row INSERT each), skipping those whose `conflict`
    columns exist; returns how many were new."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    module: Any = postgresql if dialect == "postgresql" else sqlite
    statement = (
        module.insert(table).on_conflict_do_nothing(index_elements=conflict).returning(table.c.id)
    )
    inserted = 0
    for offset in range(0, len(rows), chunk):
        result = await session.execute(statement, rows[offset : offset + chunk])
        inserted += len(result.all())
    return inserted
