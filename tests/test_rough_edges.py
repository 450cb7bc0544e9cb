"""What a new user met: a complaint on the command line, a long FAQ list, and more."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select

from storage.db import create_session_pool
from storage.models import Ticket, TicketMessage
from tests.conftest import AppFactory, Database
from tests.fake_telegram import FakeTelegram

SESSION = "rough-edges-0001"


async def test_complaint_text_on_the_command_line_is_the_complaint(
    start_app: AppFactory, faq_loaded: Database
):
    app = await start_app(telegram_mode=None)
    _, body = await app.post_json(
        "/api/v1/chat/messages", {"session": SESSION, "text": "/complaint курьер опоздал на 3 часа"}
    )
    (reply,) = body["replies"]
    assert reply["text"].startswith("Обращение №1 принято: «курьер опоздал на 3 часа»")
    async with faq_loaded.engine.connect() as conn:
        assert (await conn.execute(select(Ticket.subject))).scalar_one() == (
            "курьер опоздал на 3 часа"
        )
        assert (await conn.execute(select(TicketMessage.text))).scalar_one() == (
            "курьер опоздал на 3 часа"
        )
    # Without text the bot still asks for it.
    _, body = await app.post_json(
        "/api/v1/chat/messages", {"session": "rough-edges-0002", "text": "/complaint"}
    )
    assert body["replies"][0]["text"].startswith("Опишите проблему")


async def test_faq_list_pages_through_every_question(start_app: AppFactory, faq_loaded: Database):
    app = await start_app(telegram_mode=None)
    seen: list[str] = []
    _, body = await app.post_json(
        "/api/v1/chat/messages", {"session": SESSION, "text": "/faq", "language": "en"}
    )
    titles = []
    while True:
        (reply,) = body["replies"]
        titles.append(reply["title"] or reply["text"])
        questions = [
            b
            for b in reply["buttons"]
            if b["data"].startswith("faq:") and not b["data"].startswith("faq:page:")
        ]
        seen += [b["data"] for b in questions]
        forward = [b for b in reply["buttons"] if b["text"].endswith("▶")]
        if not forward:
            break
        _, body = await app.post_json(
            "/api/v1/chat/buttons", {"session": SESSION, "data": forward[0]["data"]}
        )
    assert titles == ["Common questions (1/3)", "Common questions (2/3)", "Common questions (3/3)"]
    assert len(seen) == len(set(seen)) == 24
    # Back from the last page.
    back = [b for b in reply["buttons"] if b["text"].startswith("◀")]
    _, body = await app.post_json(
        "/api/v1/chat/buttons", {"session": SESSION, "data": back[0]["data"]}
    )
    assert body["replies"][0]["text"] == "Common questions (2/3)"


STAFF_CHAT = -100777
AGENT = 8
STRANGER = 9
CUSTOMER = 4001


async def _staff_says(app, fake: FakeTelegram, user: int, text: str = "", **extra: Any) -> None:  # type: ignore[no-untyped-def]
    update = fake.group_message(STAFF_CHAT, user, text, thread_id=500)
    update["message"].update(extra)
    if not text and extra:
        update["message"].pop("text", None)
    assert await fake.deliver(update) == 200
    await app.drain()


async def test_staff_group_edges(start_app: AppFactory, fake_tg: FakeTelegram, database: Database):
    """A sticker or a voice message is not silently dropped; a stranger is refused once; a
    reply in a resolved ticket is flagged; a second resolve does not ask for CSAT again."""
    fake_tg.members[AGENT] = "member"
    app = await start_app(telegram={"staff_chat_id": STAFF_CHAT})
    for text in ("/complaint", "Сломался чайник"):
        await fake_tg.deliver(fake_tg.message_update(CUSTOMER, text))
        await app.drain()
    to_customer = len(fake_tg.sent_texts(CUSTOMER))
    sticker = {
        "file_id": "S1",
        "file_unique_id": "S1",
        "width": 1,
        "height": 1,
        "is_animated": False,
        "is_video": False,
        "type": "regular",
    }
    await _staff_says(app, fake_tg, AGENT, sticker=sticker)
    await _staff_says(
        app, fake_tg, AGENT, voice={"file_id": "V1", "file_unique_id": "V1", "duration": 3}
    )
    staff = fake_tg.sent_texts(STAFF_CHAT)
    assert staff[-2].startswith("⚠️ This sticker cannot be sent to the customer")
    assert staff[-1].startswith("⚠️ This voice message cannot be sent to the customer")
    assert len(fake_tg.sent_texts(CUSTOMER)) == to_customer

    fake_tg.members[STRANGER] = "left"
    for _ in range(3):
        await _staff_says(app, fake_tg, STRANGER, "я тоже хочу ответить")
    refusals = [t for t in fake_tg.sent_texts(STAFF_CHAT) if t.startswith("Sorry, only")]
    assert len(refusals) == 1

    await _staff_says(app, fake_tg, AGENT, "/resolve")
    csat = fake_tg.calls_of("sendMessage")[-1]
    assert csat.params["text"].startswith("Обращение №1 решено")
    await fake_tg.deliver(fake_tg.callback_update(CUSTOMER, "csat:1:5"))
    await app.drain()
    await _staff_says(app, fake_tg, AGENT, "И ещё: гарантия 2 года")
    assert fake_tg.sent_texts(CUSTOMER)[-1] == "Поддержка (Иван):\nИ ещё: гарантия 2 года"
    assert fake_tg.sent_texts(STAFF_CHAT)[-1].startswith(
        "ℹ️ Ticket #1 is resolved: this message was sent to the customer anyway."
    )
    await _staff_says(app, fake_tg, AGENT, "/reopen")
    await _staff_says(app, fake_tg, AGENT, "/resolve")
    last = fake_tg.calls_of("sendMessage")[-1]
    assert int(last.params["chat_id"]) == CUSTOMER
    assert last.params["text"].startswith("Обращение №1 снова решено")
    assert "reply_markup" not in last.params
    assert "CSAT was already given (5/5)" in fake_tg.sent_texts(STAFF_CHAT)[-1]
    async with create_session_pool(database.engine)() as session:
        ticket = await session.get(Ticket, 1)
        assert ticket is not None and ticket.reopens == 1  # what the reopen rate counts


async def test_command_menus_are_published(start_app: AppFactory, fake_tg: FakeTelegram):
    await start_app(telegram={"staff_chat_id": STAFF_CHAT, "admin_ids": [77]})
    calls = await fake_tg.wait_for("setMyCommands", 6)
    menus = {
        (
            c.params["scope"]["type"],
            c.params["scope"].get("chat_id"),
            c.params.get("language_code"),
        ): [command["command"] for command in c.params["commands"]]
        for c in calls
    }
    assert menus[("all_private_chats", None, None)][:3] == ["start", "faq", "hours"]
    assert ("all_private_chats", None, "ru") in menus
    assert "resolve" in menus[("chat", STAFF_CHAT, None)]
    assert "report" in menus[("chat", 77, "ru")] and "start" in menus[("chat", 77, "ru")]
    ru = next(c for c in calls if c.params.get("language_code") == "ru")
    assert ru.params["commands"][0]["description"] == "Меню"


async def test_a_corrected_message_reaches_the_ticket(
    start_app: AppFactory, fake_tg: FakeTelegram, faq_loaded: Database
):
    fake_tg.members[AGENT] = "member"
    app = await start_app(telegram={"staff_chat_id": STAFF_CHAT})
    for text in ("/complaint", "Сломался чайник, заказ 123"):
        await fake_tg.deliver(fake_tg.message_update(CUSTOMER, text))
        await app.drain()
    update = fake_tg.message_update(CUSTOMER, "Сломался чайник, заказ 124")
    update["edited_message"] = update.pop("message")
    update["edited_message"]["edit_date"] = update["edited_message"]["date"]
    assert await fake_tg.deliver(update) == 200
    await app.drain()
    assert fake_tg.sent_texts(CUSTOMER)[-1] == "Добавлено в обращение №1."
    staff = [t for t in fake_tg.sent_texts(STAFF_CHAT) if "Исправлено" in t]
    assert len(staff) == 1 and "✏️ Исправлено: Сломался чайник, заказ 124" in staff[0]
    async with faq_loaded.engine.connect() as conn:
        texts = (
            (await conn.execute(select(TicketMessage.text).order_by(TicketMessage.id)))
            .scalars()
            .all()
        )
    assert texts[-1] == "✏️ Исправлено: Сломался чайник, заказ 124"
    # No open ticket: the corrected question is answered.
    other = fake_tg.message_update(CUSTOMER + 1, "/start")
    other["edited_message"] = other.pop("message")
    other["edited_message"]["text"] = "сколько стоит доставка"
    assert await fake_tg.deliver(other) == 200
    await app.drain()
    assert "Сколько стоит доставка?" in fake_tg.sent_texts(CUSTOMER + 1)[-1]


async def test_handed_over_replies_are_claimed_once_by_two_processes(database: Database):
    """Two running bots on one database: each row the CLI hands over is sent by one of them."""
    from bot.core.delivery.outbox import Outbox, ReplyBuffer, SendResult, SendStatus, hand_over
    from bot.core.messages import Reply
    from storage.db import create_session_pool

    sent: list[tuple[str, str]] = []

    class Recording:
        def __init__(self, name: str) -> None:
            self.name = name

        async def send(
            self, recipient: str, reply: Reply, *, sent_ids: object = None, key: object = None
        ) -> SendResult:
            await asyncio.sleep(0)
            sent.append((self.name, reply.text))
            return SendResult(SendStatus.SENT)

    pool = create_session_pool(database.engine)
    async with pool() as session, session.begin():
        buffer = ReplyBuffer()
        for number in range(40):
            buffer.extend("webchat", f"session-{number % 4:04d}", [Reply(f"reply {number}")])
        assert await hand_over(session, buffer) == 40
    engines = [database.new_engine(), database.new_engine()]
    try:
        first = Outbox(create_session_pool(engines[0]), {"webchat": Recording("a")})
        second = Outbox(create_session_pool(engines[1]), {"webchat": Recording("b")})
        # Recovery never takes a handed-over row: only a claim does.
        assert await first.recover() == 0
        claimed = await asyncio.gather(first.pick_up(), second.pick_up(), first.pick_up())
        assert sum(claimed) == 40
        assert sorted(text for _, text in sent) == sorted(f"reply {n}" for n in range(40))
        assert await second.pick_up() == 0
    finally:
        for engine in engines:
            await engine.dispose()
