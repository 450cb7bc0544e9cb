"""The conversation log, and its write-behind for batches.

Logging is the one write every message makes, so a batch of messages does it in one INSERT:
`reserve_ids` takes ids for the batch in one round trip, rows added while reserved ids last
are kept in `session.info` with their ids, and they are written before the transaction
commits or before anything reads through the session, so a read never misses them. Ids are
handed out in the order rows are added and every later id is higher, so the log's order by id
stays the order of the conversation. A transaction that reserves ids must not use savepoints:
rows kept back are not tied to one.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table, event, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction
from sqlalchemy.sql.expression import Executable

from storage.db import dialect_name
from storage.models import ConversationMessage, utcnow
from storage.repositories._upsert import insert_many_ids

_MESSAGES = cast(Table, ConversationMessage.__table__)
_INSERT = insert(_MESSAGES)
# session.info keys: ids taken for this transaction and not yet used; rows holding such ids,
# not yet written.
_RESERVED = "otklik.log.reserved_ids"
_UNWRITTEN = "otklik.log.unwritten"
_DEFERRED = "otklik.log.deferred"  # writes that refer to unwritten rows, made after them
_NEXT_IDS = text(
    "SELECT nextval(pg_get_serial_sequence('conversation_messages', 'id'))"
    " FROM generate_series(1, :count)"
)
# SQLite's rowids follow the largest one; the write lock the transaction took at BEGIN
# IMMEDIATE (storage.db) keeps other writers from taking them meanwhile.
_LAST_ID = select(func.coalesce(func.max(_MESSAGES.c.id), 0))


def message_row(
    customer_id: int,
    channel: str,
    direction: str,
    text: str,
    button_data: str | None = None,
    faq_entry_id: int | None = None,
) -> dict[str, Any]:
    return {
        "customer_id": customer_id,
        "channel": channel,
        "direction": direction,
        "text": text,
        "button_data": button_data,
        "faq_entry_id": faq_entry_id,
        "created_at": utcnow(),
    }


class ConversationLog:
    """Every message in and out, per customer, across channels."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, row: dict[str, Any]) -> int:
        """Append one `message_row`; returns its id."""
        (message_id,) = await self.add_rows([row])
        return message_id

    async def reserve_ids(self, count: int) -> None:
        """Take `count` ids for this transaction in one round trip; rows added while they last
        are written together (see the module's docstring)."""
        if count <= 0:
            return
        if dialect_name(self._session) == "sqlite":
            last = int((await self._session.execute(_LAST_ID)).scalar_one())
            taken: Sequence[int] = range(last + 1, last + 1 + count)
        else:
            taken = (await self._session.execute(_NEXT_IDS, {"count": count})).scalars().all()
        self._session.info[_RESERVED] = deque(taken)

    async def add_rows(self, rows: list[dict[str, Any]]) -> list[int]:
        """Append `message_row`s; their ids, in order. This runs for every message, so it is a
        Core insert built once: the ORM's bulk path and a statement built per call cost more
        CPU than the rest of the message's handling."""
        info = self._session.info
        reserved: deque[int] | None = info.get(_RESERVED)
        if reserved is not None and len(reserved) >= len(rows):
            ids = [reserved.popleft() for _ in rows]
            unwritten = info.setdefault(_UNWRITTEN, [])
            unwritten.extend({**row, "id": row_id} for row, row_id in zip(rows, ids, strict=True))
            return ids
        # Out of reserved ids: the rest are dropped, since the database's next ids are higher
        # and using them later would break the log's order; what is kept is written first.
        info.pop(_RESERVED, None)
        if _UNWRITTEN in info:
            await self._session.run_sync(_write_unwritten)
        return await insert_many_ids(self._session, _MESSAGES, rows)

    async def get(self, message_id: int) -> ConversationMessage | None:
        return await self._session.get(ConversationMessage, message_id)

    async def history(
        self, customer_id: int, limit: int = 50, after: int = 0
    ) -> Sequence[ConversationMessage]:
        """The latest `limit` messages after id `after`, oldest first."""
        statement = (
            select(ConversationMessage)
            .where(ConversationMessage.customer_id == customer_id, ConversationMessage.id > after)
            .order_by(ConversationMessage.id.desc())
            .limit(limit)
        )
        rows = (await self._session.execute(statement)).scalars().all()
        return list(reversed(rows))


def _write_unwritten(session: Session) -> None:
    rows = session.info.pop(_UNWRITTEN, None)
    if rows:
        session.connection().execute(_INSERT, rows)
    for statement in session.info.pop(_DEFERRED, []):
        session.connection().execute(statement)


def write_after_log(session: AsyncSession, statement: Executable) -> bool:
    """Keep back a write that refers to log rows not written yet (a foreign key to them): it
    goes right after them. False when none are kept back: the caller writes it now."""
    if _UNWRITTEN not in session.info:
        return False
    session.info.setdefault(_DEFERRED, []).append(statement)
    return True


# Rows kept back are written before the transaction commits and before any read through the
# session; a rollback, or the end of the transaction, drops them and what was reserved.
@event.listens_for(Session, "before_commit")
def _write_before_commit(session: Session) -> None:
    _write_unwritten(session)


@event.listens_for(Session, "do_orm_execute")
def _write_before_reading(state: ORMExecuteState) -> None:
    if state.is_select and _UNWRITTEN in state.session.info:
        _write_unwritten(state.session)


@event.listens_for(Session, "after_transaction_end")
def _forget_reserved(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_RESERVED, None)
        session.info.pop(_UNWRITTEN, None)
        session.info.pop(_DEFERRED, None)
