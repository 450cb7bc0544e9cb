"""Dialect-aware inserts: ON CONFLICT (the building block of idempotency) and many rows with
their ids in one statement."""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import dialect_name


def upsert_insert(session: AsyncSession, table: Any) -> Any:
    """An INSERT with `on_conflict_do_nothing` / `on_conflict_do_update`: both databases have
    them, each in its own dialect module."""
    module: Any = postgresql if dialect_name(session) == "postgresql" else sqlite
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


@cache
def _insert_returning_id(table: Table, in_order: bool) -> Any:
    """Built once per table: these run for every message, and building costs more than running."""
    return insert(table).returning(table.c.id, sort_by_parameter_order=in_order)


async def insert_many_ids(
    session: AsyncSession, table: Table, rows: list[dict[str, Any]]
) -> list[int]:
    """Insert rows in one statement; their new ids, in the rows' order.

    PostgreSQL returns them in order when asked (`sort_by_parameter_order`). SQLite promises no
    order for RETURNING, and asking SQLAlchemy for one makes it send a statement per row; but
    SQLite hands out rowids in VALUES order, so the ids sorted are the rows' ids in order."""
    if not rows:
        return []
    connection = await session.connection()  # Core rows: none of the ORM's autoflush needed
    if connection.dialect.name == "sqlite":
        result = await connection.execute(_insert_returning_id(table, False), rows)
        return sorted(int(i) for i in result.scalars())
    result = await connection.execute(_insert_returning_id(table, True), rows)
    return [int(i) for i in result.scalars()]
