"""Many rows in one statement, with their ids in the rows' order, on each database."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table, event, select

from storage.db import create_session_pool
from storage.models import Customer, OutboxMessage, utcnow
from storage.repositories._upsert import insert_many_ids
from storage.repositories.conversation import ConversationLog, message_row
from tests.conftest import Database


async def test_ids_come_back_in_the_rows_order_from_one_statement(database: Database):
    rows = [
        {
            "channel": "telegram",
            "recipient": str(n),
            "payload": f"payload {n}",
            "status": "pending",
            "attempts": 0,
            "event_id": None,
            "created_at": utcnow(),
        }
        for n in range(300)
    ]
    inserts: list[str] = []

    def count(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        if statement.startswith("INSERT"):
            inserts.append(statement)

    pool = create_session_pool(database.engine)
    event.listen(database.engine.sync_engine, "before_cursor_execute", count)
    try:
        async with pool() as session, session.begin():
            ids = await insert_many_ids(session, cast(Table, OutboxMessage.__table__), rows)
            customer = Customer(display_name="c", language="ru", last_channel="telegram")
            session.add(customer)
            await session.flush()
            log_ids = await ConversationLog(session).add_rows(
                [
                    message_row(customer.id, "telegram", "in", "q"),
                    message_row(customer.id, "telegram", "out", "a"),
                ]
            )
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", count)
    assert len(inserts) == 3  # the 300 rows, the customer, the question with its answer
    async with pool() as session:
        stored = dict(
            (await session.execute(select(OutboxMessage.id, OutboxMessage.payload))).all()
        )
    assert [stored[i] for i in ids] == [f"payload {n}" for n in range(300)]
    assert log_ids[0] < log_ids[1]  # the question is logged before its answer
