"""SQLite through aiosqlite with one trip to the driver's thread per statement.

SQLAlchemy's aiosqlite adapter makes four trips per statement (open a cursor, execute, fetch,
close). Each is a queue put, a thread wake-up and an event-loop wake-up, and on the webhook's
hot path those trips cost more CPU than the handlers. This cursor does the four in the driver's
thread as one call. `create_engine` selects this dialect for `sqlite+aiosqlite` URLs; the
configured URL does not change. Server-side (streaming) cursors keep SQLAlchemy's own class.

Even one trip costs about 0.3 ms of CPU on a small virtual machine (two thread wake-ups and the
GIL changing hands), against a few microseconds for the statement itself. So code whose
statements are all short and indexed (the webhook's store-handle-send path) can ask, with
`inline_statements()`, to run them on the event loop's thread instead. The one thing that
could hold the loop there, waiting for another process's write lock, is not done inline:
`BEGIN IMMEDIATE` is tried without waiting, and if the lock is taken it waits in the thread.
"""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
    SQLiteDialect_aiosqlite,
)
from sqlalchemy.util import EMPTY_DICT

DRIVER = "otklik_aiosqlite"
_INLINE: ContextVar[bool] = ContextVar("otklik_sqlite_inline", default=False)
_BEGIN = "BEGIN IMMEDIATE"


@contextmanager
def inline_statements(enabled: bool = True) -> Iterator[None]:
    """Run this task's SQLite statements (and commits) on the event loop's thread; `False`
    sends them back to the driver's thread for a while."""
    token = _INLINE.set(enabled)
    try:
        yield
    finally:
        _INLINE.reset(token)


def _begin_without_waiting(conn: sqlite3.Connection) -> bool:
    """Take the write lock if it is free; False if another connection holds it."""
    (timeout,) = conn.execute("PRAGMA busy_timeout").fetchone()
    conn.execute("PRAGMA busy_timeout = 0")
    try:
        conn.execute(_BEGIN)
        return True
    except sqlite3.OperationalError as exc:
        if "locked" not in str(exc) and "busy" not in str(exc):
            raise
        return False
    finally:
        conn.execute(f"PRAGMA busy_timeout = {int(timeout)}")


@dataclass
class _Executed:
    """What SQLAlchemy reads off a cursor after a statement, captured in the driver thread."""

    description: Any = None
    rowcount: int = -1
    lastrowid: int | None = None
    arraysize: int = 1


def _run(
    conn: sqlite3.Connection, operation: str, parameters: Any, many: bool
) -> tuple[_Executed, list[Any]]:
    cursor = conn.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        rows = cursor.fetchall() if cursor.description else []
        return _Executed(cursor.description, cursor.rowcount, cursor.lastrowid), rows
    finally:
        cursor.close()


def _run_inline(
    conn: sqlite3.Connection, operation: str, parameters: Any, many: bool
) -> tuple[_Executed, list[Any]] | None:
    """Run a statement on the calling thread; None if it has to wait for a lock elsewhere."""
    if operation == _BEGIN:
        return (_Executed(), []) if _begin_without_waiting(conn) else None
    return _run(conn, operation, parameters, many)


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    __slots__ = ()

    def __init__(self, adapt_connection: AsyncAdapt_aiosqlite_connection) -> None:
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = _Executed()  # type: ignore[assignment]
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()

    async def _call(self, operation: Any, parameters: Any, many: bool) -> None:
        connection: Any = self._connection
        async with self._adapt_connection._execute_mutex:
            done = (
                _run_inline(connection._conn, operation, parameters, many)
                if _INLINE.get()
                else None
            )
            if done is None:
                # aiosqlite's own way to run a function on its thread with its connection.
                done = await connection._execute(
                    _run, connection._conn, operation, parameters, many
                )
        executed, rows = done
        self._cursor = executed  # type: ignore[assignment]
        self._rows = collections.deque(rows)

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        await self._call(operation, parameters, many=False)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Sequence[Any]) -> Any:
        await self._call(operation, seq_of_parameters, many=True)

    async def _async_soft_close(self) -> None:
        return  # nothing is open: the rows were fetched with the statement

    def close(self) -> None:
        self._rows.clear()


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = OneTripCursor  # type: ignore[assignment]

    def commit(self) -> None:
        connection: Any = self._connection
        if not _INLINE.get() or not connection._connection:
            super().commit()
            return
        try:
            connection._conn.commit()
        except Exception as error:
            self._handle_exception(error)


class OneTripDbapi(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> AsyncAdapt_aiosqlite_connection:
        # Used from the loop's thread too (see inline_statements), never by two at once: the
        # pool lends it to one session at a time and the cursor holds the execute mutex.
        kw.setdefault("check_same_thread", False)
        adapted = super().connect(*arg, **kw)
        return OneTripConnection(self, adapted._connection)


class OneTripDialect(SQLiteDialect_aiosqlite):
    driver = DRIVER
    supports_statement_cache = True

    @classmethod
    def import_dbapi(cls) -> AsyncAdapt_aiosqlite_dbapi:
        return OneTripDbapi(__import__("aiosqlite"), __import__("sqlite3"))


registry.register(f"sqlite.{DRIVER}", __name__, "OneTripDialect")
