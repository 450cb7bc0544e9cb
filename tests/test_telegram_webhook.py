"""End-to-end: real aiogram Bot and Dispatcher, real webhook HTTP, the fake Bot API."""

from __future__ import annotations

from sqlalchemy import func, select

from storage.models import ConversationMessage, Customer, InboundEvent
from tests.conftest import WEBHOOK_SECRET, AppFactory, Database
from tests.fake_telegram import FakeTelegram


async def _count(database: Database, model: type) -> int:
    async with database.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(model))).scalar_one())


async def test_start_registers_webhook_with_secret(start_app: AppFactory, fake_tg: FakeTelegram):
    app = await start_app()
    (call,) = fake_tg.calls_of("setWebhook")
    assert call.params["url"] == f"{app.url}/telegram/webhook"
    assert call.params["secret_token"] == WEBHOOK_SECRET


async def test_start_greets_by_name_in_their_language(
    start_app: AppFactory, fake_tg: FakeTelegram, faq_loaded: Database
):
    app = await start_app()
    assert await fake_tg.deliver(fake_tg.message_update(501, "/start", first_name="Анна")) == 200
    await app.drain()
    assert (
        await fake_tg.deliver(
            fake_tg.message_update(502, "/start", first_name="John", language_code="en-GB")
        )
        == 200
    )
    await app.drain()
    (ru,) = fake_tg.sent_texts(501)
    (en,) = fake_tg.sent_texts(502)
    assert ru.startswith("Здравствуйте, Анна!")
    assert en.startswith("Hello, John!")
    markup = fake_tg.calls_of("sendMessage")[0].params["reply_markup"]
    datas = [b["callback_data"] for row in markup["inline_keyboard"] for b in row]
    assert datas == ["faq:list", "hours", "handoff", "complaint", "link"]


async def test_a_button_is_answered_in_the_language_it_was_shown_in(
    start_app: AppFactory, fake_tg: FakeTelegram, faq_loaded: Database
):
    """An English app interface, a question in Russian: the answer and its 👍 are Russian, so
    the reply to the 👍 must be too."""
    app = await start_app()
    ask = fake_tg.message_update(503, "сколько стоит доставка в регионы", language_code="en")
    await fake_tg.deliver(ask)
    await app.drain()
    (answer,) = fake_tg.calls_of("sendMessage")
    assert "Это помогло?" in answer.params["text"]
    vote = answer.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    await fake_tg.deliver(fake_tg.callback_update(503, vote, language_code="en"))
    await app.drain()
    assert fake_tg.sent_texts(503)[-1] == "Спасибо за оценку!"


async def test_faq_question_gets_answer_and_is_logged(
    start_app: AppFactory, fake_tg: FakeTelegram, faq_loaded: Database
):
    app = await start_app()
    await fake_tg.deliver(fake_tg.message_update(777, "сколько стоит доставка в регионы"))
    await app.drain()
    (call,) = fake_tg.calls_of("sendMessage")
    assert call.params["parse_mode"] == "HTML"
    assert call.params["text"].startswith("<b>Сколько стоит доставка?</b>")
    assert "Это помогло?" in call.params["text"]
    buttons = call.params["reply_markup"]["inline_keyboard"][0]
    assert [b["text"] for b in buttons] == ["👍 Да", "👎 Нет"]
    async with faq_loaded.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(ConversationMessage.direction, ConversationMessage.text).order_by(
                    ConversationMessage.id
                )
            )
        ).all()
    assert rows[0] == ("in", "сколько стоит доставка в регионы")
    assert rows[1][0] == "out" and "300 ₽" in rows[1][1]
    async with faq_loaded.engine.connect() as conn:
        status = (await conn.execute(select(InboundEvent.status))).scalar_one()
    assert status == "done"


async def test_redelivered_update_id_has_no_second_effect(
    start_app: AppFactory, fake_tg: FakeTelegram, faq_loaded: Database
):
    app = await start_app()
    update = fake_tg.message_update(900, "как вернуть товар")
    assert await fake_tg.deliver(update) == 200
    await app.drain()
    assert await fake_tg.deliver(update) == 200
    assert await fake_tg.deliver(update) == 200
    await app.drain()
    assert len(fake_tg.sent_texts(900)) == 1
    assert await _count(faq_loaded, InboundEvent) == 1
    assert await _count(faq_loaded, ConversationMessage) == 2


async def test_double_tap_on_feedback_counts_once(
    start_app: AppFactory, fake_tg: FakeTelegram, faq_loaded: Database
):
    app = await start_app()
    await fake_tg.deliver(fake_tg.message_update(901, "как вернуть товар"))
    await app.drain()
    keyboard = fake_tg.calls_of("sendMessage")[0].params["reply_markup"]["inline_keyboard"]
    yes = keyboard[0][0]["callback_data"]
    await fake_tg.deliver(fake_tg.callback_update(901, yes))
    await fake_tg.deliver(fake_tg.callback_update(901, yes))
    await app.drain()
    texts = fake_tg.sent_texts(901)
    assert texts[1:] == ["Спасибо за оценку!", "Оценка уже учтена."]
    from storage.models import FaqEntry

    async with faq_loaded.engine.connect() as conn:
        helpful = (await conn.execute(select(func.sum(FaqEntry.helpful_count)))).scalar_one()
    assert helpful == 1
    assert len(fake_tg.calls_of("answerCallbackQuery")) == 2


async def test_another_customers_feedback_button_is_refused(
    start_app: AppFactory, fake_tg: FakeTelegram, faq_loaded: Database
):
    app = await start_app()
    await fake_tg.deliver(fake_tg.message_update(902, "как вернуть товар"))
    await app.drain()
    keyboard = fake_tg.calls_of("sendMessage")[0].params["reply_markup"]["inline_keyboard"]
    await fake_tg.deliver(fake_tg.callback_update(903, keyboard[0][0]["callback_data"]))
    await app.drain()
    assert fake_tg.sent_texts(903)[0].startswith("Эта кнопка больше не работает")
    from storage.models import FaqFeedback

    assert await _count(faq_loaded, FaqFeedback) == 0


async def test_wrong_secret_is_401_and_stores_nothing(
    start_app: AppFactory, fake_tg: FakeTelegram, database: Database
):
    app = await start_app()
    update = fake_tg.message_update(1, "hi")
    assert await fake_tg.deliver(update, secret="nope") == 401
    async with app.http.post(app.url + "/telegram/webhook", json=update) as resp:
        assert resp.status == 401
    assert await _count(database, InboundEvent) == 0


async def test_bad_webhook_bodies(start_app: AppFactory, database: Database):
    app = await start_app(http={"max_body_bytes": 4096})
    headers = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}
    url = app.url + "/telegram/webhook"
    async with app.http.post(url, data=b"{not json", headers=headers) as resp:
        assert resp.status == 400
        assert "JSON" in (await resp.json())["error"]
    async with app.http.post(url, json=[1, 2], headers=headers) as resp:
        assert resp.status == 400
    async with app.http.post(url, data=b"\xff\xfe", headers=headers) as resp:
        assert resp.status == 400
    big = {"update_id": 5, "message": {"text": "x" * 10_000}}
    async with app.http.post(url, json=big, headers=headers) as resp:
        assert resp.status == 413
    assert await _count(database, InboundEvent) == 0


async def test_unknown_update_type_is_acknowledged_and_ignored(
    start_app: AppFactory, fake_tg: FakeTelegram, database: Database
):
    app = await start_app()
    update = {
        "update_id": 77,
        "some_future_kind": {"x": 1},
    }
    assert await fake_tg.deliver(update) == 200
    poll = {
        "update_id": 78,
        "poll": {
            "id": "1",
            "question": "?",
            "options": [],
            "total_voter_count": 0,
            "is_closed": False,
            "is_anonymous": True,
            "type": "regular",
            "allows_multiple_answers": False,
        },
    }
    assert await fake_tg.deliver(poll) == 200
    broken = {"update_id": 79, "message": {"text": "no chat, no date"}}
    assert await fake_tg.deliver(broken) == 200
    await app.drain()
    assert fake_tg.calls_of("sendMessage") == []
    async with database.engine.connect() as conn:
        rows = (await conn.execute(select(InboundEvent.external_id, InboundEvent.status))).all()
    assert sorted(rows) == [("77", "done"), ("78", "done"), ("79", "failed")]


async def test_long_message_is_split_and_html_is_escaped(
    start_app: AppFactory, fake_tg: FakeTelegram, database: Database
):
    # Long messages allowed (the default is Telegram's own 4,096), so a reply must be split.
    app = await start_app(bot={"max_message_chars": 16_000})
    name = "<b>Eve</b> & co"
    await fake_tg.deliver(fake_tg.message_update(600, "/start", first_name=name))
    await app.drain()
    greeting = fake_tg.sent_texts(600)[0]
    assert "&lt;b&gt;Eve&lt;/b&gt; &amp; co" in greeting
    assert "<b>Eve" not in greeting
    # Leave a 10,000-character message: the confirmation quotes it and must be split.
    await fake_tg.deliver(fake_tg.callback_update(600, "handoff"))
    await app.drain()
    long_text = ("слово " * 1700)[:10_000]
    await fake_tg.deliver(fake_tg.message_update(600, long_text))
    await app.drain()
    parts = fake_tg.sent_texts(600)[2:]
    assert len(parts) == 3
    assert all(len(p) <= 4096 for p in parts)
    assert parts[0].startswith("Обращение №1 принято")
    assert sum(p.count("слово") for p in parts) == long_text.count("слово")
    async with database.engine.connect() as conn:
        blocked = (await conn.execute(select(Customer.unreachable))).scalar_one()
    assert blocked is False


async def test_a_bare_slash_is_answered_and_handled_once(
    start_app: AppFactory, fake_tg: FakeTelegram, faq_loaded: Database
):
    """ "/" used to raise IndexError: no answer, and the update retried five times."""
    from sqlalchemy import select

    from storage.models import InboundEvent

    app = await start_app()
    for text in ("/", "/ "):
        assert await fake_tg.deliver(fake_tg.message_update(4700, text)) == 200
        await app.drain()
    assert len(fake_tg.sent_texts(4700)) == 2
    async with app.services.session_pool() as session:
        statuses = (await session.execute(select(InboundEvent.status))).scalars().all()
    assert statuses == ["done", "done"]
