"""The staff side in detail: plain groups, blocked customers, rate limits, restarts, routing
rules, canned replies and the command line."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

from sqlalchemy import select

from bot.core.delivery.outbox import Outbox, ReplyBuffer
from bot.core.hours import parse_schedule
from bot.core.tickets.service import TicketService
from storage.db import create_session_pool
from storage.models import Customer, RoutingRule, Ticket
from storage.repositories.tickets import CannedRepository, RuleRepository, TicketRepository
from tests.conftest import AppFactory, Database, make_settings, run_otklik
from tests.fake_telegram import FakeTelegram

STAFF_CHAT = -100777
AGENT = 8
CUSTOMER = 4001


async def _complain(app, fake: FakeTelegram, chat_id: int, text: str) -> None:  # type: ignore[no-untyped-def]
    for message in ("/complaint", text):
        assert await fake.deliver(fake.message_update(chat_id, message)) == 200
        await app.drain()


async def _ticket(database: Database) -> Ticket:
    async with create_session_pool(database.engine)() as session:
        ticket = (
            (await session.execute(select(Ticket).order_by(Ticket.id.desc()))).scalars().first()
        )
    assert ticket is not None
    return ticket


async def test_plain_group_threads_by_replies(
    start_app: AppFactory, fake_tg: FakeTelegram, database: Database
):
    fake_tg.forum = False
    fake_tg.members[AGENT] = "member"
    app = await start_app(telegram={"staff_chat_id": STAFF_CHAT})
    await _complain(app, fake_tg, CUSTOMER, "Товар не тот")
    card = next(
        c for c in fake_tg.calls_of("sendMessage") if int(c.params["chat_id"]) == STAFF_CHAT
    )
    assert "message_thread_id" not in card.params
    card_id = card.result["message_id"]
    await fake_tg.deliver(
        fake_tg.group_message(STAFF_CHAT, AGENT, "Пришлите фото", reply_to=card_id)
    )
    await app.drain()
    assert fake_tg.sent_texts(CUSTOMER)[-1] == "Поддержка (Иван):\nПришлите фото"
    # A message in the group that replies to nothing of ours is not relayed.
    await fake_tg.deliver(fake_tg.group_message(STAFF_CHAT, AGENT, "обед?"))
    await app.drain()
    assert fake_tg.sent_texts(CUSTOMER)[-1] == "Поддержка (Иван):\nПришлите фото"


async def test_blocked_customer_is_marked_and_staff_told(
    start_app: AppFactory, fake_tg: FakeTelegram, database: Database
):
    fake_tg.members[AGENT] = "member"
    app = await start_app(telegram={"staff_chat_id": STAFF_CHAT})
    await _complain(app, fake_tg, CUSTOMER, "Не работает промокод")
    fake_tg.block(CUSTOMER)
    await fake_tg.deliver(fake_tg.group_message(STAFF_CHAT, AGENT, "Проверим", thread_id=500))
    await app.drain()
    staff = fake_tg.sent_texts(STAFF_CHAT)
    assert staff[-1].startswith("⚠️ The customer blocked the bot")
    async with database.engine.connect() as conn:
        assert (await conn.execute(select(Customer.unreachable))).scalar_one() is True


async def test_relay_waits_out_429(
    start_app: AppFactory, fake_tg: FakeTelegram, database: Database
):
    fake_tg.members[AGENT] = "member"
    app = await start_app(telegram={"staff_chat_id": STAFF_CHAT})
    await _complain(app, fake_tg, CUSTOMER, "Где возврат?")
    fake_tg.fail_next("sendMessage", 429, retry_after=1, chat_id=CUSTOMER)
    await fake_tg.deliver(fake_tg.group_message(STAFF_CHAT, AGENT, "Уже отправили", thread_id=500))
    await app.drain()
    to_customer = [
        c for c in fake_tg.calls_of("sendMessage") if int(c.params["chat_id"]) == CUSTOMER
    ]
    refused, delivered = to_customer[-2:]
    assert refused.params["text"] == delivered.params["text"] == "Поддержка (Иван):\nУже отправили"
    assert delivered.at - refused.at >= 1.0


async def test_staff_photo_reaches_customer(
    start_app: AppFactory, fake_tg: FakeTelegram, database: Database
):
    fake_tg.members[AGENT] = "member"
    app = await start_app(telegram={"staff_chat_id": STAFF_CHAT})
    await _complain(app, fake_tg, CUSTOMER, "Как выглядит замена?")
    await fake_tg.deliver(
        fake_tg.group_message(STAFF_CHAT, AGENT, "Вот она", thread_id=500, photo="AGENT-PHOTO")
    )
    await app.drain()
    (photo,) = [c for c in fake_tg.calls_of("sendPhoto") if int(c.params["chat_id"]) == CUSTOMER]
    assert photo.params["photo"] == "AGENT-PHOTO"
    assert photo.params["caption"] == "Поддержка (Иван):\nВот она"


async def test_unsent_relay_is_sent_after_restart(
    start_app: AppFactory, fake_tg: FakeTelegram, database: Database
):
    app = await start_app(telegram={"staff_chat_id": STAFF_CHAT})
    await _complain(app, fake_tg, CUSTOMER, "Сломался чайник")
    await app.stop()
    # What a crash after commit leaves: the relay is in the outbox, never sent.
    pool = create_session_pool(database.engine)
    settings = make_settings()
    service = TicketService(parse_schedule(settings.hours), settings.tickets)
    async with pool() as session, session.begin():
        ticket = await TicketRepository(session).get(1)
        assert ticket is not None
        effects = await service.staff_reply(session, ticket, "Ольга", "Заменим")
        # Queued by the process that crashed: leased to it, as its own outbox would.
        crashed = Outbox(pool, {}, owner=app.services.outbox.owner, lease_seconds=3)
        await crashed.enqueue(session, ReplyBuffer(effects.posts))
    before = len(fake_tg.sent_texts(CUSTOMER))
    await start_app(telegram={"staff_chat_id": STAFF_CHAT})
    # SQLite: at once (one process per file). PostgreSQL: once the dead one's lease runs out.
    await fake_tg.wait_for("sendMessage", len(fake_tg.calls_of("sendMessage")) + 1, within=15)
    await asyncio.sleep(0.1)
    assert fake_tg.sent_texts(CUSTOMER)[before:] == ["Поддержка (Ольга):\nЗаменим"]


async def test_routing_rules_from_config_and_sql(
    start_app: AppFactory, fake_tg: FakeTelegram, database: Database
):
    rules = [
        {"name": "delivery", "keywords": ["доставка", "курьер"], "category": "delivery"},
    ]
    settings_rules = {"rules": rules}
    app = await start_app(telegram={"staff_chat_id": STAFF_CHAT}, tickets=settings_rules)
    async with create_session_pool(database.engine)() as session, session.begin():
        await RuleRepository(session).add(
            RoutingRule(
                name="refunds",
                position=5,
                pattern=r"возврат\w*",
                set_category="refunds",
                set_priority="high",
                set_assignee_id=AGENT,
            )
        )
    await _complain(app, fake_tg, CUSTOMER, "Курьера не было весь день")
    first = await _ticket(database)
    assert (first.category, first.priority) == ("delivery", "normal")
    await fake_tg.deliver(fake_tg.group_message(STAFF_CHAT, AGENT, "/resolve", thread_id=500))
    fake_tg.members[AGENT] = "member"
    await fake_tg.deliver(fake_tg.group_message(STAFF_CHAT, AGENT, "/resolve", thread_id=500))
    await app.drain()
    await _complain(app, fake_tg, CUSTOMER, "Когда будет возврат? Срочно")
    second = await _ticket(database)
    assert (second.category, second.priority, second.assignee_id) == ("refunds", "urgent", AGENT)
    async with database.engine.connect() as conn:
        rule_id = (
            await conn.execute(select(RoutingRule.id).where(RoutingRule.name == "refunds"))
        ).scalar_one()
    assert second.matched_rule_id == rule_id
    topics = [c.params["name"] for c in fake_tg.calls_of("createForumTopic")]
    assert topics == ["#1 · Анна · delivery", "#2 · Анна · refunds"]


async def test_canned_reply_in_topic(
    start_app: AppFactory, fake_tg: FakeTelegram, database: Database
):
    fake_tg.members[AGENT] = "member"
    async with create_session_pool(database.engine)() as session, session.begin():
        await CannedRepository(session).add("thanks", "Спасибо, что написали! Уже разбираемся.")
    app = await start_app(telegram={"staff_chat_id": STAFF_CHAT})
    await _complain(app, fake_tg, CUSTOMER, "Не пришёл чек")
    await fake_tg.deliver(fake_tg.group_message(STAFF_CHAT, AGENT, "/canned", thread_id=500))
    await app.drain()
    assert fake_tg.sent_texts(STAFF_CHAT)[-1] == "Canned replies: thanks. Use /canned NAME."
    await fake_tg.deliver(fake_tg.group_message(STAFF_CHAT, AGENT, "/canned thanks", thread_id=500))
    await app.drain()
    assert fake_tg.sent_texts(CUSTOMER)[-1] == (
        "Поддержка (Иван):\nСпасибо, что написали! Уже разбираемся."
    )


async def _otklik(database: Database, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a thread: the app under test shares this event loop and must keep
    finishing its transactions while the CLI waits for the database."""
    return await asyncio.to_thread(run_otklik, database, *args, cwd=cwd)


async def test_cli_for_tickets_canned_and_rules(
    start_app: AppFactory, fake_tg: FakeTelegram, database: Database, tmp_path: Path
):
    app = await start_app()
    await _complain(app, fake_tg, CUSTOMER, "Оплата не прошла")
    listing = await _otklik(database, "tickets", "list", cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    assert "Оплата не прошла" in listing.stdout and "1 tickets" in listing.stdout
    show = await _otklik(database, "tickets", "show", "1", cwd=tmp_path)
    assert "customer:Анна (telegram): Оплата не прошла" in show.stdout
    missing = await _otklik(database, "tickets", "show", "99", cwd=tmp_path)
    assert missing.returncode == 2 and "no ticket #99" in missing.stderr
    resolved = await _otklik(database, "tickets", "resolve", "1", cwd=tmp_path)
    assert "ticket #1 is resolved" in resolved.stdout
    # The running bot claims what the CLI handed over and sends it within seconds (it used
    # to wait for the 15-second recovery sweep).
    handed_over = asyncio.get_running_loop().time()
    while not fake_tg.sent_texts(CUSTOMER)[-1].startswith("Обращение №1 решено"):
        assert asyncio.get_running_loop().time() - handed_over < 3.0, fake_tg.sent_texts()
        await asyncio.sleep(0.05)

    assert (
        await _otklik(database, "canned", "add", "hello", "Здравствуйте!", cwd=tmp_path)
    ).returncode == 0
    assert "hello" in (await _otklik(database, "canned", "list", cwd=tmp_path)).stdout
    assert (await _otklik(database, "canned", "remove", "hello", cwd=tmp_path)).returncode == 0
    gone = await _otklik(database, "canned", "remove", "hello", cwd=tmp_path)
    assert gone.returncode == 2 and "no canned reply 'hello'" in gone.stderr

    bad = await _otklik(
        database, "rules", "add", "x", "--pattern", "(", "--category", "c", cwd=tmp_path
    )
    assert bad.returncode == 2 and "--pattern is not a valid expression" in bad.stderr
    empty = await _otklik(database, "rules", "add", "y", "--category", "c", cwd=tmp_path)
    assert empty.returncode == 2 and "give at least one of --keywords" in empty.stderr
    added = await _otklik(
        database,
        "rules",
        "add",
        "vip",
        "--keywords",
        "vip,премиум",
        "--priority",
        "high",
        cwd=tmp_path,
    )
    assert added.returncode == 0, added.stderr
    assert "vip" in (await _otklik(database, "rules", "list", cwd=tmp_path)).stdout
    bad_priority = await _otklik(database, "rules", "add", "z", "--priority", "max", cwd=tmp_path)
    assert bad_priority.returncode == 2 and "invalid choice" in bad_priority.stderr
    assert "ACTION" in (await _otklik(database, "rules", "--help", cwd=tmp_path)).stdout
    same = await _otklik(database, "tickets", "merge", "1", "1", cwd=tmp_path)
    assert same.returncode == 2 and "another ticket of the same customer" in same.stderr


async def test_card_buttons_and_merge(
    start_app: AppFactory, fake_tg: FakeTelegram, database: Database
):
    fake_tg.members[AGENT] = "member"
    app = await start_app(telegram={"staff_chat_id": STAFF_CHAT})
    await _complain(app, fake_tg, CUSTOMER, "Заказ 1 не пришёл")

    async def press(user_id: int, data: str) -> None:
        update = fake_tg.callback_update(STAFF_CHAT, data)
        update["callback_query"]["from"]["id"] = user_id
        update["callback_query"]["message"]["chat"] = {"id": STAFF_CHAT, "type": "supergroup"}
        await fake_tg.deliver(update)
        await app.drain()

    await press(99, "tk:take:1")  # not staff: refused, nothing changes
    assert (await _ticket(database)).assignee_id is None
    assert fake_tg.sent_texts(STAFF_CHAT)[-1] == "Sorry, only the support team can act on tickets."
    await press(AGENT, "tk:take:1")
    await press(AGENT, "tk:prio:1:urgent")
    ticket = await _ticket(database)
    assert (ticket.assignee_id, ticket.status, ticket.priority) == (AGENT, "open", "urgent")

    # A duplicate from the same customer (opened while #1 was resolved) is merged into #1.
    await press(AGENT, "tk:resolve:1")
    await _complain(app, fake_tg, CUSTOMER, "Повторяю: заказ 1 не пришёл")
    assert (await _ticket(database)).id == 2
    await fake_tg.deliver(fake_tg.group_message(STAFF_CHAT, AGENT, "/merge 1", thread_id=501))
    await app.drain()
    async with create_session_pool(database.engine)() as session:
        first, second = (
            await TicketRepository(session).get(1),
            await TicketRepository(session).get(2),
        )
    assert first is not None and second is not None
    assert (second.status, second.merged_into_id, first.status) == ("closed", 1, "open")
    # The rules are the service's: the topic is told, in its words, and nothing loops.
    await fake_tg.deliver(fake_tg.group_message(STAFF_CHAT, AGENT, "/merge 1", thread_id=501))
    await app.drain()
    assert fake_tg.sent_texts(STAFF_CHAT)[-1] == "#2 is already merged into #1."
    await fake_tg.deliver(fake_tg.group_message(STAFF_CHAT, AGENT, "/merge 2", thread_id=500))
    await app.drain()
    assert fake_tg.sent_texts(STAFF_CHAT)[-1] == "#2 is merged into #1: merge into that one."
    await fake_tg.deliver(fake_tg.message_update(CUSTOMER, "Есть новости?"))
    await app.drain()
    assert fake_tg.sent_texts(CUSTOMER)[-1] == "Добавлено в обращение №1."
