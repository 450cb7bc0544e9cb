"""The human inbox end to end: a complaint becomes a ticket with a forum topic in the staff
group; staff and customer talk through the bot; notes stay inside; resolve asks for CSAT."""

from __future__ import annotations

from sqlalchemy import select

from storage.models import SurveyResponse, Ticket, TicketMessage
from tests.conftest import AppFactory, Database
from tests.fake_telegram import FakeTelegram

STAFF_CHAT = -100123
AGENT = 7
OUTSIDER = 66
CUSTOMER = 1001


async def _ticket(database: Database, ticket_id: int = 1) -> Ticket:
    async with database.engine.connect() as conn:
        row = (await conn.execute(select(Ticket).where(Ticket.id == ticket_id))).one()
    return Ticket(**row._mapping)


async def _staff_posts(fake: FakeTelegram) -> list[dict]:
    return [
        c.params
        for c in fake.calls
        if c.method in ("sendMessage", "sendPhoto") and int(c.params["chat_id"]) == STAFF_CHAT
    ]


async def test_complaint_to_topic_relay_notes_resolve_and_csat(
    start_app: AppFactory, fake_tg: FakeTelegram, faq_loaded: Database
):
    fake_tg.members[AGENT] = "member"
    app = await start_app(telegram={"staff_chat_id": STAFF_CHAT})

    async def say(update: dict) -> None:
        assert await fake_tg.deliver(update) == 200
        await app.drain()

    await say(fake_tg.message_update(CUSTOMER, "/complaint"))
    assert fake_tg.sent_texts(CUSTOMER)[-1].startswith("Опишите проблему")
    await say(fake_tg.photo_update(CUSTOMER, "PHOTO-1", "Посылка пришла разбитой, заказ 123"))
    opened = fake_tg.sent_texts(CUSTOMER)[-1]
    assert opened.startswith("Обращение №1 принято: «Посылка пришла разбитой, заказ 123»")
    assert "Мы сейчас работаем, ответим до 15:00 сегодня." in opened  # 13:00 MSK + 120 min

    (topic,) = fake_tg.calls_of("createForumTopic")
    assert topic.params["name"] == "#1 · Анна · general"
    thread = 500
    posts = await _staff_posts(fake_tg)
    assert [int(p["message_thread_id"]) for p in posts] == [thread, thread]
    assert "Посылка пришла разбитой" in posts[0]["text"] and "Channel: telegram" in posts[0]["text"]
    card_buttons = [b["callback_data"] for b in posts[0]["reply_markup"]["inline_keyboard"][0]]
    assert card_buttons == ["tk:take:1", "tk:prio:1:urgent", "tk:resolve:1"]
    assert posts[1]["photo"] == "PHOTO-1"

    # The agent answers in the topic: the customer gets it in their chat.
    await say(fake_tg.group_message(STAFF_CHAT, AGENT, "Заменим товар завтра", thread_id=thread))
    assert fake_tg.sent_texts(CUSTOMER)[-1] == "Поддержка (Иван):\nЗаменим товар завтра"
    assert (await _ticket(faq_loaded)).first_response_at is not None

    # The customer's follow-up lands in the same topic.
    await say(fake_tg.message_update(CUSTOMER, "Спасибо, жду курьера"))
    assert fake_tg.sent_texts(CUSTOMER)[-1] == "Добавлено в обращение №1."
    last_staff = (await _staff_posts(fake_tg))[-1]
    assert "Спасибо, жду курьера" in last_staff["text"]
    assert int(last_staff["message_thread_id"]) == thread

    # An internal note goes nowhere; an outsider is refused and changes nothing.
    sent_before = len(fake_tg.sent_texts(CUSTOMER))
    await say(fake_tg.group_message(STAFF_CHAT, AGENT, "!проверить склад", thread_id=thread))
    await say(fake_tg.group_message(STAFF_CHAT, OUTSIDER, "/resolve", thread_id=thread))
    assert len(fake_tg.sent_texts(CUSTOMER)) == sent_before
    assert "only the support team" in (await _staff_posts(fake_tg))[-1]["text"]
    assert (await _ticket(faq_loaded)).status == "open"  # the customer wrote last

    # Resolve: the customer is asked for CSAT; a double tap counts once; then a comment.
    await say(fake_tg.group_message(STAFF_CHAT, AGENT, "/resolve", thread_id=thread))
    question = fake_tg.calls_of("sendMessage")[-1].params
    assert int(question["chat_id"]) == CUSTOMER
    assert question["text"].startswith("Обращение №1 решено")
    scores = [b["callback_data"] for b in question["reply_markup"]["inline_keyboard"][0]]
    assert scores == [f"csat:1:{n}" for n in range(1, 6)]
    await say(fake_tg.callback_update(CUSTOMER, "csat:1:5"))
    await say(fake_tg.callback_update(CUSTOMER, "csat:1:1"))
    assert fake_tg.sent_texts(CUSTOMER)[-1] == "Оценка уже учтена."
    await say(fake_tg.message_update(CUSTOMER, "Курьер был вежлив"))
    ticket = await _ticket(faq_loaded)
    assert (ticket.status, ticket.csat_score, ticket.csat_comment) == (
        "resolved",
        5,
        "Курьер был вежлив",
    )
    staff_texts = [p.get("text", "") for p in await _staff_posts(fake_tg)]
    assert any("CSAT 5/5" in text for text in staff_texts)
    assert any("Курьер был вежлив" in text for text in staff_texts)

    async with faq_loaded.engine.connect() as conn:
        kinds = (
            (await conn.execute(select(TicketMessage.kind).order_by(TicketMessage.id)))
            .scalars()
            .all()
        )
    assert kinds == ["customer", "staff", "customer", "note", "system"]
    async with faq_loaded.engine.connect() as conn:
        response = (await conn.execute(select(SurveyResponse.kind, SurveyResponse.score))).one()
    assert tuple(response) == ("csat", 5)  # ticket CSAT counts in the CSAT report


async def test_customer_cannot_reach_another_customers_ticket(
    start_app: AppFactory, fake_tg: FakeTelegram, faq_loaded: Database
):
    app = await start_app(telegram={"staff_chat_id": STAFF_CHAT})
    await fake_tg.deliver(fake_tg.message_update(2001, "/complaint"))
    await app.drain()
    await fake_tg.deliver(fake_tg.message_update(2001, "Не пришёл заказ"))
    await app.drain()
    # Another customer guesses ticket 1 in a CSAT button and in a handoff button.
    await fake_tg.deliver(fake_tg.callback_update(2002, "csat:1:1"))
    await app.drain()
    assert fake_tg.sent_texts(2002)[-1].startswith("Эта кнопка больше не работает")
    assert (await _ticket(faq_loaded)).csat_score is None
    await fake_tg.deliver(fake_tg.message_update(2002, "/mytickets"))
    await app.drain()
    assert fake_tg.sent_texts(2002)[-1] == "У вас нет обращений."
    await fake_tg.deliver(fake_tg.message_update(2001, "/mytickets"))
    await app.drain()
    assert fake_tg.sent_texts(2001)[-1] == "Ваши обращения:\n#1 · новое · Не пришёл заказ"


async def test_web_chat_customer_gets_staff_reply_live_and_in_history(
    start_app: AppFactory, fake_tg: FakeTelegram, faq_loaded: Database
):
    fake_tg.members[AGENT] = "creator"
    app = await start_app(telegram={"staff_chat_id": STAFF_CHAT})
    session = "web-customer-01"
    await app.post_json("/api/v1/chat/buttons", {"session": session, "data": "complaint"})
    _, body = await app.post_json(
        "/api/v1/chat/messages", {"session": session, "text": "Where is my refund?"}
    )
    assert body["replies"][0]["text"].startswith("Ticket #1 is open")
    await fake_tg.wait_for("createForumTopic")
    async with app.chat_socket(session) as socket:
        await fake_tg.deliver(
            fake_tg.group_message(STAFF_CHAT, AGENT, "Refund sent today", thread_id=500)
        )
        frame = await socket.receive_json(timeout=5)
    assert frame["replies"][0]["text"] == "Support (Иван):\nRefund sent today"
    _, restored = await app.chat_history(session)
    history = restored["messages"]
    assert history[-1] == {
        "id": frame["replies"][0]["id"],
        "direction": "out",
        "text": "Support (Иван):\nRefund sent today",
        "title": None,
        "buttons": [],
        "new": True,  # pushed, but this client never said it showed it
        "channel": "webchat",
    }
