"""A batch's customers and open tickets are loaded in one query; what that memo says must never
outlive a change made earlier in the same batch, nor the transaction itself."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event

from storage.db import create_session_pool
from storage.models import Ticket
from storage.repositories.customers import CustomerRepository
from storage.repositories.tickets import TicketRepository
from tests.conftest import AppFactory, Database
from tests.fake_telegram import FakeTelegram

STAFF_CHAT = -100123
AGENT = 7
CUSTOMER = 1001


def _selects() -> tuple[list[str], Any]:
    seen: list[str] = []

    def record(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        if statement.startswith("SELECT"):
            seen.append(statement)

    return seen, record


async def test_preload_answers_lookups_without_queries_until_the_transaction_ends(
    database: Database,
):
    pool = create_session_pool(database.engine)
    async with pool() as session, session.begin():
        customers = CustomerRepository(session)
        known = await customers.get_or_create("telegram", "1", "Анна", "ru")
        await customers.get_or_create("telegram", "2", "Bob", "en")
        session.add(Ticket(customer_id=known.id, channel="telegram", subject="s", status="open"))
    async with pool() as session, session.begin():
        await CustomerRepository(session).preload("telegram", ["1", "2", "3"])
        seen, record = _selects()
        event.listen(database.engine.sync_engine, "before_cursor_execute", record)
        try:
            customers = CustomerRepository(session)
            first = await customers.by_identity("telegram", "1")
            assert first is not None
            first.language = "en"
            await session.flush()  # a flush is not the end of the transaction
            second = await customers.by_identity("telegram", "2")
            assert await customers.by_identity("telegram", "3") is None  # known to be new
            assert first is not None and second is not None
            ticket = await TicketRepository(session).open_for_customer(first.id)
            assert ticket is not None and ticket.subject == "s"
            assert await TicketRepository(session).open_for_customer(second.id) is None
        finally:
            event.remove(database.engine.sync_engine, "before_cursor_execute", record)
        # Only the open ticket's own row was read, when it was asked for.
        assert len(seen) == 1 and seen[0].startswith("SELECT tickets.")
    # A new transaction asks the database again.
    async with pool() as session, session.begin():
        seen, record = _selects()
        event.listen(database.engine.sync_engine, "before_cursor_execute", record)
        try:
            assert await CustomerRepository(session).by_identity("telegram", "1") is not None
        finally:
            event.remove(database.engine.sync_engine, "before_cursor_execute", record)
        assert len(seen) == 1


async def test_a_customer_first_seen_in_a_batch_is_created_once(database: Database):
    pool = create_session_pool(database.engine)
    async with pool() as session, session.begin():
        customers = CustomerRepository(session)
        await customers.preload("telegram", ["5"])
        created = await customers.get_or_create("telegram", "5", "Eve", "en")
        again = await customers.get_or_create("telegram", "5", "Eve", "en")
        assert again is created


async def test_a_ticket_opened_earlier_in_the_batch_takes_the_next_message(
    start_app: AppFactory, fake_tg: FakeTelegram, faq_loaded: Database
):
    app = await start_app(telegram={"staff_chat_id": STAFF_CHAT})
    await app.handle_as_one_batch([fake_tg.message_update(CUSTOMER, "/complaint")])
    await app.handle_as_one_batch(
        [
            fake_tg.message_update(CUSTOMER, "Посылка пришла разбитой"),  # opens ticket 1
            fake_tg.message_update(CUSTOMER, "как отменить заказ"),  # belongs to it
        ],
    )
    opened, added = fake_tg.sent_texts(CUSTOMER)[-2:]
    assert opened.startswith("Обращение №1 принято")
    assert added == "Добавлено в обращение №1."


async def test_a_ticket_resolved_earlier_in_the_batch_no_longer_takes_messages(
    start_app: AppFactory, fake_tg: FakeTelegram, faq_loaded: Database
):
    # An admin: known to be staff without asking Telegram, so the update stays in its batch
    # (one whose sender must first be asked about is handled apart, after the answer).
    app = await start_app(telegram={"staff_chat_id": STAFF_CHAT, "admin_ids": [AGENT]})
    await app.handle_as_one_batch([fake_tg.message_update(CUSTOMER, "/complaint")])
    await app.handle_as_one_batch([fake_tg.message_update(CUSTOMER, "Посылка пришла разбитой")])
    assert len(fake_tg.calls_of("createForumTopic")) == 1
    thread = 500  # the fake's first topic
    await app.handle_as_one_batch(
        [
            fake_tg.group_message(STAFF_CHAT, AGENT, "/resolve", thread_id=thread),
            fake_tg.message_update(CUSTOMER, "как отменить заказ"),  # a new question
        ],
    )
    assert "Отменить" in fake_tg.sent_texts(CUSTOMER)[-1]
