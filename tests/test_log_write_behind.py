"""A batch logs its messages in one INSERT, with ids reserved up front. What that must never
cost: a row the caller was told about but that is not there, a read that misses one, a row
left behind by a rollback, or a log whose order by id is not the order of the conversation."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import create_session_pool
from storage.models import ConversationMessage, FaqFeedback
from storage.repositories.conversation import ConversationLog, message_row
from storage.repositories.customers import CustomerRepository
from tests.conftest import AppFactory, Database
from tests.fake_telegram import FakeTelegram


@contextmanager
def log_inserts(engine: AsyncEngine) -> Iterator[list[str]]:
    """INSERT statements into the log that reach the database while inside."""
    seen: list[str] = []

    def record(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        if statement.startswith("INSERT INTO conversation_messages"):
            seen.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


async def _customer(database: Database) -> int:
    async with create_session_pool(database.engine)() as session, session.begin():
        customer = await CustomerRepository(session).get_or_create("web", "w1", "Анна", "ru")
        return customer.id


async def _logged(database: Database) -> list[tuple[int, str]]:
    async with create_session_pool(database.engine)() as session:
        rows = await session.execute(
            select(ConversationMessage.id, ConversationMessage.text).order_by(
                ConversationMessage.id
            )
        )
        return [(int(i), str(t)) for i, t in rows]


async def test_rows_kept_back_are_written_at_commit_with_the_ids_given(database: Database):
    customer = await _customer(database)
    pool = create_session_pool(database.engine)
    with log_inserts(database.engine) as inserts:
        async with pool() as session, session.begin():
            log = ConversationLog(session)
            await log.reserve_ids(4)
            first = await log.add_rows([message_row(customer, "web", "in", "one")])
            rest = await log.add_rows(
                [
                    message_row(customer, "web", "out", "two"),
                    message_row(customer, "web", "in", "3"),
                ]
            )
            assert inserts == []  # nothing written yet
        assert len(inserts) == 1
    ids = first + rest
    assert ids == sorted(ids) and len(set(ids)) == 3
    assert await _logged(database) == list(zip(ids, ["one", "two", "3"], strict=True))


async def test_a_read_in_the_same_transaction_sees_rows_kept_back(database: Database):
    customer = await _customer(database)
    async with create_session_pool(database.engine)() as session, session.begin():
        log = ConversationLog(session)
        await log.reserve_ids(2)
        (message_id,) = await log.add_rows([message_row(customer, "web", "in", "hello")])
        found = await log.get(message_id)
        assert found is not None and found.text == "hello"
        assert [m.text for m in await log.history(customer)] == ["hello"]


async def test_running_out_of_reserved_ids_keeps_the_log_in_order(database: Database):
    customer = await _customer(database)
    texts = ["a", "b", "c", "d", "e"]
    ids: list[int] = []
    async with create_session_pool(database.engine)() as session, session.begin():
        log = ConversationLog(session)
        await log.reserve_ids(2)
        ids += await log.add_rows([message_row(customer, "web", "in", "a")])  # reserved
        # Two rows, one reserved id left: the database gives both, after "a" is written.
        ids += await log.add_rows([message_row(customer, "web", "out", t) for t in "bc"])
        # The id left over must not be used now: it is lower than those of "b" and "c".
        ids += await log.add_rows([message_row(customer, "web", "in", "d")])
        ids += [await log.add(message_row(customer, "web", "out", "e"))]
    assert ids == sorted(ids) and len(set(ids)) == 5
    assert await _logged(database) == list(zip(ids, texts, strict=True))


async def test_a_writer_beside_the_reservation_never_takes_a_reserved_id(database: Database):
    """Another process writing to the log meanwhile: on SQLite it waits for the write lock the
    reserving transaction holds; on PostgreSQL the sequence hands it a later id."""
    customer = await _customer(database)
    other_process = database.new_engine()

    async def other_writer() -> int:
        async with create_session_pool(other_process)() as session, session.begin():
            return await ConversationLog(session).add(message_row(customer, "web", "in", "beside"))

    try:
        async with create_session_pool(database.engine)() as session, session.begin():
            log = ConversationLog(session)
            await log.reserve_ids(2)
            beside = asyncio.create_task(other_writer())
            await asyncio.sleep(0.3)  # the other writer is under way
            reserved = await log.add_rows([message_row(customer, "web", "in", "reserved")])
        beside_id = await beside
    finally:
        await other_process.dispose()
    assert beside_id not in reserved
    assert sorted(t for _, t in await _logged(database)) == ["beside", "reserved"]


async def test_a_rollback_writes_nothing_and_forgets_the_reservation(database: Database):
    customer = await _customer(database)
    pool = create_session_pool(database.engine)
    async with pool() as session:
        async with session.begin():
            log = ConversationLog(session)
            await log.reserve_ids(3)
            await log.add_rows([message_row(customer, "web", "in", "lost")])
            await session.rollback()
        assert await _logged(database) == []
        # The next transaction on the same session starts with nothing reserved or kept back.
        with log_inserts(database.engine) as inserts:
            async with session.begin():
                await ConversationLog(session).add(message_row(customer, "web", "in", "kept"))
            assert len(inserts) == 1
    assert [t for _, t in await _logged(database)] == ["kept"]


async def test_a_telegram_batch_logs_in_one_insert_and_its_vote_buttons_name_the_answers(
    start_app: AppFactory, fake_tg: FakeTelegram, faq_loaded: Database
):
    app = await start_app()
    chats = [2001, 2002, 2003]
    with log_inserts(app.services.engine) as inserts:
        await app.handle_as_one_batch(
            [fake_tg.message_update(chat, "как отменить заказ") for chat in chats]
        )
    assert len(inserts) == 1
    logged = await _logged(faq_loaded)
    assert [t.split("\n")[0] for _, t in logged[:2]] == [
        "как отменить заказ",
        "Как отменить заказ?",
    ]
    assert len(logged) == 6  # each question and its answer
    # A vote names the logged answer, and counts.
    sent = fake_tg.calls_of("sendMessage")
    votes = [
        button["callback_data"]
        for call in sent
        for row in call.params["reply_markup"]["inline_keyboard"]
        for button in row
        if button["callback_data"].endswith(":y")
    ]
    assert len(votes) == 3
    await app.handle_as_one_batch([fake_tg.callback_update(chats[0], votes[0])])
    async with create_session_pool(faq_loaded.engine)() as session:
        answer = await ConversationLog(session).get(int(votes[0].split(":")[1]))
        assert answer is not None and answer.direction == "out" and answer.faq_entry_id
        counted = await session.scalar(select(func.count()).select_from(FaqFeedback))
    assert counted == 1
    assert fake_tg.sent_texts(chats[0])[-1] == "Спасибо за оценку!"
