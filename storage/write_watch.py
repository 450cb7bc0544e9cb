"""Which writes are failing right now, seen where every write passes: the engine.

A full disk, a read-only remount or a server out of resources refuses writes while reads still
work, so a `SELECT 1` cannot see it and each write path (inbound events, tickets, the outbox)
would have to report it itself. Here a write that fails with an outage error (not a broken
statement: an `OperationalError`, as `storage.db` classifies them) marks its table failing, and
the next committed write to that table heals it. A failed COMMIT marks the tables its
transaction wrote; a refused BEGIN IMMEDIATE (SQLite's write lock) marks the transaction.
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
    r'^\s*(?:INSERT\s+(?:OR\s+\w+\s+)?INTO|UPDATE|DELETE\s+FROM)\s+"?(\w+)"?', re.IGNORECASE
)
_WRITTEN = "otklik.written_tables"  # connection info: tables written in this transaction
_WATCH = "otklik.write_watch"
_CONNECTIONS = "otklik.write_watch.connections"  # session info: the connections it began
TRANSACTION = "transaction"  # a failure of no one table: healed by any committed write


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
        self._failing: set[str] = set()

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
        table = _written_table(statement)
        if table is not None:
            conn.info.setdefault(_WRITTEN, set()).add(table)
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
            for table in set(info.get(_WRITTEN, ())) or {TRANSACTION}:
                self._fail(table, f"{statement.split()[0] if statement else 'COMMIT'}: {reason}")
            return
        table = _written_table(context.statement or "")
        if table is not None:
            self._fail(table, reason)

    def _fail(self, table: str, reason: str) -> None:
        self._failing.add(table)
        self._failing_callback(table, reason)

    def _forget(self, conn: Any) -> None:
        try:
            info = conn.info
        except SQLAlchemyError:  # an invalidated connection: its record is gone anyway
            return
        info.pop(_WRITTEN, None)

    def committed(self, tables: set[str]) -> None:
        healed = tables & self._failing
        if TRANSACTION in self._failing and tables:
            healed.add(TRANSACTION)
        for table in healed:
            self._failing.discard(table)
            self._healthy_callback(table)


def _written_table(statement: str) -> str | None:
    match = _WRITE.match(statement)
    return match.group(1).lower() if match else None


# A committed session heals the tables its connections wrote. Session events, because the
# engine says only that a COMMIT is about to run, never that it succeeded.
@event.listens_for(GuardedSession, "after_begin")
def _note_connection(session: Session, _transaction: Any, connection: Any) -> None:
    session.info.setdefault(_CONNECTIONS, []).append(connection.info)


@event.listens_for(GuardedSession, "after_commit")
def _heal_committed(session: Session) -> None:
    for info in session.info.pop(_CONNECTIONS, ()):
        tables = info.pop(_WRITTEN, None)
        watch = info.get(_WATCH)
        if tables and isinstance(watch, WriteWatch):
            watch.committed(tables)


@event.listens_for(GuardedSession, "after_transaction_end")
def _drop_connections(session: Session, transaction: Any) -> None:
    if transaction.parent is None:
        session.info.pop(_CONNECTIONS, None)
