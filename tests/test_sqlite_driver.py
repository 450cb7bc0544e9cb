"""The one-trip SQLite cursor behaves as SQLAlchemy's aiosqlite one: rows, rowcounts, ids,
executemany, errors mapped to SQLAlchemy's, and streaming results; in the driver's thread and
inline on the event loop's, where a locked database is still waited for in the thread."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError

from storage.db import create_engine, short_statements


@pytest.mark.parametrize("inline", [False, True], ids=["thread", "inline"])
async def test_statements_rows_errors_and_streams(tmp_path: Path, inline: bool):
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/driver.db")
    mode: AbstractContextManager[None] = short_statements() if inline else nullcontext()
    with mode:
        await _statements_rows_errors_and_streams(engine)


async def _statements_rows_errors_and_streams(engine):  # type: ignore[no-untyped-def]
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


async def _thread_of_statements(engine) -> int:  # type: ignore[no-untyped-def]
    async with engine.begin() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        await raw.create_function("thread_id", 0, threading.get_ident)
        return int((await conn.execute(text("SELECT thread_id()"))).scalar_one())


async def test_inline_statements_run_on_the_loop_thread_and_commit(tmp_path: Path):
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/inline.db")
    try:
        assert await _thread_of_statements(engine) != threading.get_ident()
        with short_statements():
            assert await _thread_of_statements(engine) == threading.get_ident()
            async with engine.begin() as conn:
                await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
                await conn.execute(text("INSERT INTO t (id) VALUES (1)"))
        # Committed inline: another connection sees it.
        other = sqlite3.connect(tmp_path / "inline.db")
        assert other.execute("SELECT count(*) FROM t").fetchone() == (1,)
        other.close()
    finally:
        await engine.dispose()


async def test_inline_transaction_waits_for_a_locked_database_without_blocking_the_loop(
    tmp_path: Path,
):
    path = tmp_path / "locked.db"
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
        holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        holder.execute("BEGIN IMMEDIATE")  # another process writing
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        async def write() -> None:
            with short_statements():
                async with engine.begin() as conn:
                    await conn.execute(text("INSERT INTO t (id) VALUES (1)"))

        ticker = asyncio.create_task(tick())
        writer = asyncio.create_task(write())
        await asyncio.sleep(0.3)
        assert not writer.done()  # waiting for the lock...
        assert ticks >= 10  # ...in the driver's thread: the loop kept running
        holder.execute("COMMIT")
        await asyncio.wait_for(writer, 5)
        ticker.cancel()
        assert holder.execute("SELECT count(*) FROM t").fetchone() == (1,)
        holder.close()
    finally:
        await engine.dispose()
