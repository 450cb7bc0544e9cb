"""Engine and session factory; nothing here is created at import time."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import AbstractContextManager, asynccontextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from storage import sqlite_driver


def create_engine(
    url: str,
    *,
    echo: bool = False,
    connect_args: dict[str, Any] | None = None,
    schema: str = "",
) -> AsyncEngine:
    """Build the async engine; SQLite gets WAL and a busy timeout so concurrent writers wait
    instead of failing with 'database is locked'."""
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"echo": echo}
    args = dict(connect_args or {})
    if parsed.get_backend_name() == "sqlite":
        args.setdefault("timeout", 30)
        # SQLite has one writer. Queueing for a single pooled connection in the event loop is
        # far cheaper than many connections sleeping in SQLite's busy handler, whose back-off
        # grows to 100 ms a try under contention.
        kwargs.update(pool_size=1, max_overflow=0, pool_timeout=60)
        kwargs.update(pool_reset_on_return=None)  # see _sqlite_reset
    else:
        kwargs.update(pool_size=10, max_overflow=10, pool_timeout=10)
        args.setdefault("timeout", 5)
        if schema:
            args.setdefault("server_settings", {})["search_path"] = schema
    if parsed.drivername == "sqlite+aiosqlite":
        parsed = parsed.set(drivername=f"sqlite+{sqlite_driver.DRIVER}")
    engine = create_async_engine(parsed, connect_args=args, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        event.listen(engine.sync_engine, "reset", _sqlite_reset)
    else:
        event.listen(engine.sync_engine, "checkout", _ping_if_idle)
        event.listen(engine.sync_engine, "checkin", _note_checkin)
    return engine


# A pooled connection that sat unused this long is pinged before use. SQLAlchemy's
# pool_pre_ping pings on every checkout, which on asyncpg is three round trips (begin, ping,
# rollback): more than the transaction it guards when updates arrive back to back. A connection
# that breaks while busy fails one statement; SQLAlchemy then recycles the whole pool.
PING_AFTER_IDLE = 2.0


def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    returned = record.info.get("otklik.checked_in_at")
    if returned is not None and time.monotonic() - returned < PING_AFTER_IDLE:
        return
    try:
        dbapi_connection.ping()
    except Exception as exc:
        # The pool drops this connection and tries a fresh one.
        raise DisconnectionError(str(exc)) from exc


def _note_checkin(_dbapi_connection: Any, record: Any) -> None:
    if record is not None:
        record.info["otklik.checked_in_at"] = time.monotonic()


def _sqlite_reset(dbapi_connection: Any, _record: Any, state: Any) -> None:
    """Roll back a returned connection only if it is inside a transaction. The pool's own reset
    rolls back always, and on SQLite each rollback is a trip to the driver's thread, while
    almost every connection comes back committed."""
    if state.terminate_only or not state.asyncio_safe:
        return
    if dbapi_connection.driver_connection.in_transaction:
        dbapi_connection.rollback()


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
    # Let SQLAlchemy, not the driver, decide when a transaction begins (see _sqlite_begin).
    dbapi_connection.isolation_level = None


def _sqlite_begin(connection: Any) -> None:
    """Take the write lock up front: a read transaction that later writes would otherwise fail
    with SQLITE_BUSY when another writer commits in between, and the busy timeout cannot help."""
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def short_statements(short: bool = True) -> AbstractContextManager[None]:
    """Declare that the statements this task issues from here on are short and indexed: on
    SQLite they then run on the event loop's thread, skipping a costly trip to the driver's
    (see storage.sqlite_driver). `False` undoes it for work inside that may be long (a report,
    a campaign launch). On PostgreSQL it changes nothing."""
    return sqlite_driver.inline_statements(short)


def dialect_name(session: AsyncSession) -> str:
    """ "sqlite" or "postgresql": where SQL differs between the two (an unbound session is
    taken for the embedded default)."""
    return session.bind.dialect.name if session.bind is not None else "sqlite"


@asynccontextmanager
async def one_statement(
    pool: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """A session for work that is one statement, committed on leaving. On PostgreSQL the
    statement runs without BEGIN and COMMIT around it: those are two round trips of three.
    SQLite keeps its transaction: its BEGIN IMMEDIATE is what queues writers."""
    async with pool() as session:
        if dialect_name(session) != "sqlite":
            await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        yield session
        await session.commit()


def create_session_pool(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def ping(engine: AsyncEngine) -> None:
    """Raise if the database cannot answer a trivial query."""
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


# What "the database is unreachable" looks like from SQLAlchemy and the drivers.
DB_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    SQLAlchemyTimeoutError,
    OSError,
    TimeoutError,
)
