"""Engine and session factory; nothing here is created at import time."""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import AsyncIterator
from contextlib import AbstractContextManager, asynccontextmanager
from typing import Any

from sqlalchemy import event, func, text
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session

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
    # Parameters are customers' names and texts: never in an exception's text, so never in logs.
    kwargs: dict[str, Any] = {"echo": echo, "hide_parameters": True}
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
    event.listen(engine.sync_engine, "handle_error", _classify_disconnect)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        event.listen(engine.sync_engine, "reset", _sqlite_reset)
    else:
        event.listen(engine.sync_engine, "checkout", _ping_if_idle)
        event.listen(engine.sync_engine, "checkin", _note_checkin)
    return engine


class DatabaseDisconnected(OperationalError):
    """The connection died under a statement (the server restarted, an administrator or a
    proxy killed it): an outage to wait out, not a bug in the statement."""


class DatabaseOutOfResources(OperationalError):
    """The server cannot do the work now (its disk is full, it is out of memory or of
    connections): an outage to wait out, on a connection that is still good."""


# SQLSTATE classes a lost connection is reported with: connection exceptions, and the server
# shutting the session down (pg_terminate_backend, a fast shutdown, a crash restart).
_LOST_CONNECTION_STATES = ("08", "57P01", "57P02", "57P03")
# Insufficient resources: disk_full 53100, out_of_memory 53200, too_many_connections 53300.
_OUT_OF_RESOURCES_STATES = ("53",)


def _classify_disconnect(context: ExceptionContext) -> BaseException | None:
    """asyncpg reports a killed connection, and a full disk, as a bare DBAPIError, which
    callers cannot tell from a broken statement; raise them as OperationalErrors, errors in
    DB_ERRORS (a webhook answers 503 and the platform retries), and let the pool drop a killed
    connection."""
    original = context.original_exception
    if not isinstance(original, Exception) or not isinstance(
        context.sqlalchemy_exception, DBAPIError
    ):
        # SQLAlchemy calls a cancelled task's CancelledError a disconnect too: it must stay a
        # cancellation, not turn into an outage someone catches and retries.
        return None
    if isinstance(context.sqlalchemy_exception, OperationalError | InterfaceError):
        return None
    state = str(getattr(original, "sqlstate", None) or "")
    if state.startswith(_OUT_OF_RESOURCES_STATES):
        return DatabaseOutOfResources(None, None, original)
    lost = (
        context.is_disconnect
        or state.startswith(_LOST_CONNECTION_STATES)
        or isinstance(original, OSError)
    )
    if not lost:
        return None
    context.is_disconnect = True
    return DatabaseDisconnected(None, None, original, connection_invalidated=True)


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


FOLD = "otklik_fold"


def _fold(value: object) -> object:
    return value.casefold() if isinstance(value, str) else value


def contains_folded(column: Any, words: str, dialect: str) -> Any:
    """`column` contains `words`, case folded in every script (LIKE wildcards typed are
    taken literally): ILIKE on PostgreSQL, the registered fold on SQLite."""
    escaped = words.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    if dialect == "postgresql":
        return column.ilike(f"%{escaped}%", escape="\\")
    folded = escaped.casefold()
    return getattr(func, FOLD)(column).like(f"%{folded}%", escape="\\")


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
    # SQLite's lower() and LIKE fold ASCII only: searches fold Cyrillic through this instead.
    dbapi_connection.create_function(FOLD, 1, _fold, deterministic=True)
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


class NestedSessionError(RuntimeError):
    """A task began a transaction on a database while it still held another there."""


class GuardedSession(Session):
    """A session whose transaction refuses to begin while the same task holds another on the
    same engine.

    On SQLite the pool has one connection: the inner transaction waits `pool_timeout` for the
    connection its own caller holds, and everything behind it stalls. On PostgreSQL it takes a
    second connection per task and can exhaust the pool. Failing at once makes the bug visible
    in the tests instead of as a wedged process."""


# task -> {engine: the session holding a transaction there}. Weak: a finished task is forgotten.
_holding: weakref.WeakKeyDictionary[asyncio.Task[Any], dict[Any, Session]] = (
    weakref.WeakKeyDictionary()
)


def _held_by_task() -> dict[Any, Session] | None:
    try:
        task = asyncio.current_task()
    except RuntimeError:  # no event loop: a synchronous caller (migrations)
        return None
    return None if task is None else _holding.setdefault(task, {})


@event.listens_for(GuardedSession, "after_transaction_create")
def _refuse_nested(session: Session, transaction: Any) -> None:
    """Checked before the new transaction waits for a connection: that wait is the deadlock."""
    if transaction.parent is not None:
        return
    held = _held_by_task()
    other = held.get(session.bind) if held is not None else None
    if other is not None and other is not session:
        raise NestedSessionError(
            "a transaction began while this task holds another on the same database"
        )


@event.listens_for(GuardedSession, "after_begin")
def _note_begin(session: Session, _transaction: Any, connection: Any) -> None:
    held = _held_by_task()
    if held is not None:
        held[connection.engine] = session
        # The end may be seen from another task (AsyncSession closes in a task of its own).
        session.info["otklik.holding"] = held


@event.listens_for(GuardedSession, "after_transaction_end")
def _note_end(session: Session, transaction: Any) -> None:
    if transaction.parent is not None:
        return  # a savepoint or a subtransaction: the root still holds the connection
    held = session.info.pop("otklik.holding", None)
    if not held:
        return
    for engine, holder in list(held.items()):
        if holder is session:
            del held[engine]


def create_session_pool(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, sync_session_class=GuardedSession)


async def ping(engine: AsyncEngine) -> None:
    """Raise if the database cannot answer a trivial query. On SQLite the query skips the
    engine's BEGIN IMMEDIATE: a ping must neither wait for the write lock nor call a database
    that refuses writes unreachable (storage.write_watch reports those)."""
    async with engine.connect() as conn:
        if engine.dialect.name != "sqlite":
            await conn.execute(text("SELECT 1"))
            return
        raw = await conn.get_raw_connection()
        await raw.driver_connection.execute("SELECT 1")  # type: ignore[union-attr]


# What "the database is unreachable" looks like from SQLAlchemy and the drivers.
DB_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    SQLAlchemyTimeoutError,
    OSError,
    TimeoutError,
)
