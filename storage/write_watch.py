"""Which writes are failing right now, seen where every write passes: the engine.

A full disk, a read-only remount or a server out of resources refuses writes while reads still
work, so a `SELECT 1` cannot see it and each write path (inbound events, tickets, the outbox)
would have to report it itself. Here a write that fails with an outage error (not a broken
statement: an `OperationalError`, as `storage.db` classifies them) marks its table failing, and
the next committed write of the same kind to that table, or an INSERT, heals it: an UPDATE in
place can go through on a full disk while an INSERT that needs a new page cannot, so a lease
renewal must not hide refused arrivals, while a row that could be added shows the table takes
writes again. A failed COMMIT marks the tables its transaction wrote, healed by any
committed write to them; a refused BEGIN IMMEDIATE (SQLite's write lock) marks the transaction.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Session

from storage.db import GuardedSession

_WRITE = re.compile(
    r'^\s*(INSERT|UPDATE|DELETE)\s+(?:OR\s+\w+\s+)?(?:INTO\s+|FROM\s+)?"?(\w+)"?', re.IGNORECASE
)
_WRITTEN = "otklik.written_tables"  # connection info: tables written in this transaction
_WATCH = "otklik.write_watch"
_CONNECTIONS = "otklik.write_watch.connections"  # session info: the connections it began
TRANSACTION = "transaction"  # a failure of no one table: healed by any committed write
ANY = "*"  # a failed COMMIT: any kind of committed write to the table heals it

Write = tuple[str, str]  # (table, kind): ("inbound_events", "INSERT")


class WriteWatch:
    """Calls `failing(table, reason)` when a write to `table` fails with an outage error and
    `healthy(table)` when a write to it is committed after that."""

    def __init__(
        self,
        failing: Callable[[str, str], object],
        healthy: Callable[[str], object],
    ) -> None:
        self._failing_callback = failing
        self._healthy_callback = healthy
        self._failing: dict[str, set[str]] = {}  # table -> the kinds of write that failed

    def install(self, engine: AsyncEngine) -> None:
        sync = engine.sync_engine
        event.listen(sync, "after_cursor_execute", self._after_execute)
        event.listen(sync, "handle_error", self._on_error)
        event.listen(sync, "rollback", self._forget)

    @property
    def failing_tables(self) -> frozenset[str]:
        return frozenset(self._failing)

    def _after_execute(
        self, conn: Any, _cursor: Any, statement: str, *_args: Any, **_kwargs: Any
    ) -> None:
        write = _written(statement)
        if write is not None:
            conn.info.setdefault(_WRITTEN, set()).add(write)
            conn.info[_WATCH] = self

    def _on_error(self, context: ExceptionContext) -> None:
        # Set only when an earlier handler (storage.db's classifier) replaced the error.
        error = getattr(context, "chained_exception", None) or context.sqlalchemy_exception
        if not isinstance(error, OperationalError | InterfaceError):
            return
        reason = type(getattr(error, "orig", None) or error).__name__
        statement = (context.statement or "").strip().upper()
        if statement in ("", "COMMIT") or statement.startswith("BEGIN IMMEDIATE"):
            # The transaction as a whole (SQLite's write lock, a COMMIT): its tables, if known.
            info = context.connection.info if context.connection is not None else {}
            tables = {table for table, _kind in info.get(_WRITTEN, ())} or {TRANSACTION}
            for table in tables:
                verb = statement.split()[0] if statement else "COMMIT"
                self._fail(table, ANY, f"{verb}: {reason}")
            return
        write = _written(context.statement or "")
        if write is not None:
            self._fail(*write, reason)

    def _fail(self, table: str, kind: str, reason: str) -> None:
        self._failing.setdefault(table, set()).add(kind)
        self._failing_callback(table, reason)

    def _forget(self, conn: Any) -> None:
        try:
            info = conn.info
        except SQLAlchemyError:  # an invalidated connection: its record is gone anyway
            return
        info.pop(_WRITTEN, None)

    def committed(self, writes: set[Write]) -> None:
        healed = {TRANSACTION} if TRANSACTION in self._failing and writes else set()
        for table, kind in writes:
            kinds = self._failing.get(table)
            if kinds is not None and (ANY in kinds or kind in kinds or kind == "INSERT"):
                healed.add(table)
        for table in healed:
            del self._failing[table]
            self._healthy_callback(table)


def _written(statement: str) -> Write | None:
    match = _WRITE.match(statement)
    return (match.group(2).lower(), match.group(1).upper()) if match else None


# A committed session heals the tables its connections wrote. Session events, because the
# engine says only that a COMMIT is about to run, never that it succeeded.
@event.listens_for(GuardedSession, "after_begin")
def _note_connection(session: Session, _transaction: Any, connection: Any) -> None:
    session.info.setdefault(_CONNECTIONS, []).append(connection.info)


@event.listens_for(GuardedSession, "after_commit")
def _heal_committed(session: Session) -> None:
    for info in session.info.pop(_CONNECTIONS, ()):
        writes = info.pop(_WRITTEN, None)
        watch = info.get(_WATCH)
        if writes and isinstance(watch, WriteWatch):
            watch.committed(writes)


@event.listens_for(GuardedSession, "after_transaction_end")
def _drop_connections(session: Session, transaction: Any) -> None:
    if transaction.parent is None:
        session.info.pop(_CONNECTIONS, None)
