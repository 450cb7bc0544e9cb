"""Dialect-aware INSERT ... ON CONFLICT, the building block of idempotency."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def upsert_insert(session: AsyncSession, table: Any) -> Any:
    """An INSERT with `on_conflict_do_nothing` / `on_conflict_do_update`: both databases have
    them, each in its own dialect module."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    module: Any = postgresql if dialect == "postgresql" else sqlite
    return module.insert(table)


async def insert_ignore(
    session: AsyncSession, table: Table, values: dict[str, Any], conflict: list[str]
) -> int | None:
    """Insert a row unless one with the same `conflict` columns exists; return the new id."""
    statement = (
        upsert_insert(session, table)
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
    statement = (
        upsert_insert(session, table)
        .on_conflict_do_nothing(index_elements=conflict)
        .returning(table.c.id)
    )
    inserted = 0
    for offset in range(0, len(rows), chunk):
        result = await session.execute(statement, rows[offset : offset + chunk])
        inserted += len(result.all())
    return inserted
