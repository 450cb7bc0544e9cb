"""The one-trip SQLite cursor behaves as SQLAlchemy's aiosqlite one: rows, rowcounts, ids,
executemany, errors mapped to SQLAlchemy's, and streaming results."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError

from storage.db import create_engine


async def test_statements_rows_errors_and_streams(tmp_path: Path):
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/driver.db")
    try:
        assert engine.dialect.name == "sqlite" and engine.dialect.driver == "otklik_aiosqlite"
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE)"))
            one = await conn.execute(text("INSERT INTO t (name) VALUES ('a')"))
            assert one.lastrowid == 1 and one.rowcount == 1
            many = await conn.execute(
                text("INSERT INTO t (name) VALUES (:name)"), [{"name": "b"}, {"name": "c"}]
            )
            assert many.rowcount == 2
            returned = await conn.execute(text("INSERT INTO t (name) VALUES ('d') RETURNING id"))
            assert returned.scalar_one() == 4
            changed = await conn.execute(text("UPDATE t SET name = name || '!' WHERE id > 2"))
            assert changed.rowcount == 2
            rows = await conn.execute(text("SELECT id, name FROM t ORDER BY id"))
            assert rows.all() == [(1, "a"), (2, "b"), (3, "c!"), (4, "d!")]
            streamed = await conn.stream(text("SELECT name FROM t ORDER BY id"))
            assert [row.name async for row in streamed] == ["a", "b", "c!", "d!"]
        with pytest.raises(IntegrityError):
            async with engine.begin() as conn:
                await conn.execute(text("INSERT INTO t (name) VALUES ('a')"))
        with pytest.raises(OperationalError):
            async with engine.begin() as conn:
                await conn.execute(text("SELECT * FROM no_such_table"))
        async with engine.connect() as conn:  # the failed ones were rolled back
            assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar_one() == 4
    finally:
        await engine.dispose()
