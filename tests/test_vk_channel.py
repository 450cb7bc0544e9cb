"""VK community messages end to end: the Callback API route of the real app, the fake VK API
(tests/fake_vk.py) answering VK's real error shapes, a real database."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.app import launch_campaigns
from bot.campaigns import service
from storage.db import create_session_pool
from storage.models import Customer, InboundEvent, SurveyResponse
from tests.conftest import AppFactory, Database, RunningApp
from tests.fake_telegram import FakeTelegram
from tests.fake_vk import FakeVk, VkCallbacks

TOKEN = "vk1.a.community-token-for-tests"
SECRET = "vk-callback-secret-0123"
GROUP = 229000111
USER = 51234
STAFF_CHAT = -100333
AGENT = 8
NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


@pytest.fixture
async def fake_vk() -> AsyncIterator[FakeVk]:
    fake = FakeVk(TOKEN)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.close()


def _vk(fake: FakeVk) -> dict[str, Any]:
    return {
        "vk": {
            "token": TOKEN,
            "group_id": GROUP,
            "confirmation": "a1b2c3d4",
            "secret": SECRET,
            "api_base": fake.base_url,
        }
    }


def _callbacks(app: RunningApp) -> VkCallbacks:
    return VkCallbacks(f"{app.url}/vk/callback", GROUP, SECRET)


def _keyboard(params: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(params["keyboard"]))


async def test_confirmation_and_secret(
    start_app: AppFactory, fake_vk: FakeVk, faq_loaded: Database
):
    app = await start_app(telegram_mode=None, channels=_vk(fake_vk))
    vk = _callbacks(app)
    confirm = {"type": "confirmation", "group_id": GROUP, "secret": SECRET}
    assert await vk.post(confirm) == (200, "a1b2c3d4")
    assert (await vk.post(vk.message(USER, "привет") | {"secret": "wrong-secret-000000"}))[0] == 403
    assert (await vk.post(vk.message(USER, "привет") | {"group_id": 1}))[0] == 403
    assert (await vk.post({k: v for k, v in vk.message(USER, "x").items() if k != "secret"}))[
        0
    ] == 403
    async with faq_loaded.engine.connect() as conn:
        for model in (Customer, InboundEvent):
            count = (await conn.execute(select(func.count()).select_from(model))).scalar_one()
            assert count == 0
    # Events we do not handle still get "ok", or VK would resend them for hours.
    assert await vk.post(vk.event("group_join", {"user_id": USER})) == (200, "ok")
    assert fake_vk.sent == []


async def test_question_button_redelivery_and_a_lost_answer(
    start_app: AppFactory, fake_vk: FakeVk, faq_loaded: Database
):
    app = await start_app(
        telegram_mode=None,
        channels=_vk(fake_vk),
        outbox={"retry_base_seconds": 0.2, "recovery_seconds": 0.3},
    )
    vk = _callbacks(app)
    question = vk.message(USER, "сколько стоит доставка в регионы")
    assert await vk.post(question) == (200, "ok")
    await vk.wait_sent(fake_vk, 1)
    (answer,) = fake_vk.sent
    assert answer["message"].startswith("Сколько стоит доставка?\n")
    board = _keyboard(answer)
    assert board["inline"] is True
    (row,) = board["buttons"]
    assert [b["action"]["label"] for b in row] == ["👍 Да", "👎 Нет"]
    assert all(b["action"]["type"] == "callback" for b in row)
    # VK redelivers the same event: nothing happens twice.
    assert await vk.post(question) == (200, "ok")
    await asyncio.sleep(0.3)
    assert len(fake_vk.sent) == 1
    # The 👍 press; the spinner is stopped with sendMessageEventAnswer.
    data = json.loads(row[0]["action"]["payload"])["d"]
    assert await vk.post(vk.press(USER, data)) == (200, "ok")
    await vk.wait_sent(fake_vk, 2)
    assert fake_vk.texts(USER)[-1] == "Спасибо за оценку!"
    # Stopped once the press is committed, beside the reply: either may reach VK first.
    for _ in range(100):
        if any(c.method == "messages.sendMessageEventAnswer" for c in fake_vk.calls):
            break
        await asyncio.sleep(0.05)
    assert any(c.method == "messages.sendMessageEventAnswer" for c in fake_vk.calls)
    # VK shows the next message but its answer is lost on the way back: the retry uses the
    # same random_id, so the user sees it once.
    fake_vk.lose_next_answer = True
    await vk.post(vk.message(USER, "/hours"))
    for _ in range(100):
        sends = [c for c in fake_vk.calls if c.method == "messages.send"]
        if len(sends) >= 4:
            break
        await asyncio.sleep(0.05)
    assert sends[-1].params["random_id"] == sends[-2].params["random_id"]
    assert len(fake_vk.sent) == 3


async def test_complaint_staff_reply_rate_limit_and_a_blocked_user(
    start_app: AppFactory, fake_tg: FakeTelegram, fake_vk: FakeVk, faq_loaded: Database
):
    fake_tg.members[AGENT] = "member"
    app = await start_app(
        telegram={"staff_chat_id": STAFF_CHAT},
        channels=_vk(fake_vk),
        outbox={"retry_base_seconds": 0.2, "recovery_seconds": 0.3},
    )
    vk = _callbacks(app)
    await vk.post(vk.message(USER, "/complaint"))
    await vk.post(vk.message(USER, "Курьер не приехал"))
    await vk.wait_sent(fake_vk, 2)
    assert fake_vk.texts(USER)[-1].startswith("Обращение №1 принято: «Курьер не приехал»")
    card = (await fake_tg.wait_for("sendMessage"))[0]
    assert "vk" in card.params["text"]
    # VK's "too many requests per second" (6): retried, delivered once.
    fake_vk.fail_next("messages.send", 6, USER)
    await fake_tg.deliver(fake_tg.group_message(STAFF_CHAT, AGENT, "Уже едет", thread_id=500))
    await app.drain()
    await vk.wait_sent(fake_vk, 3, within=10)
    assert fake_vk.texts(USER)[-1] == "Поддержка (Иван):\nУже едет"
    # 901: the user does not allow messages from the community: unreachable, staff told.
    fake_vk.fail_next("messages.send", 901, USER)
    await fake_tg.deliver(fake_tg.group_message(STAFF_CHAT, AGENT, "Ещё вопрос", thread_id=500))
    await app.drain()
    for _ in range(100):
        if any(t.startswith("⚠️ The customer blocked the bot") for t in fake_tg.sent_texts()):
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError(fake_tg.sent_texts())
    async with faq_loaded.engine.connect() as conn:
        assert (await conn.execute(select(Customer.unreachable))).scalar_one() is True


async def test_survey_in_vk_with_a_keyboard(
    start_app: AppFactory, fake_vk: FakeVk, faq_loaded: Database
):
    app = await start_app(telegram_mode=None, channels=_vk(fake_vk), scheduler={"enabled": False})
    vk = _callbacks(app)
    await vk.post(vk.message(USER, "привет"))
    await vk.wait_sent(fake_vk, 1)
    async with create_session_pool(faq_loaded.engine)() as session, session.begin():
        await service.create_survey(session, "nps", "nps", False, "{}")
        await service.create_campaign(session, name="NPS", survey_name="nps", run_at=NOW)
    await launch_campaigns(app.services)
    await app.services.campaigns.run_once()
    await vk.wait_sent(fake_vk, 2)
    survey = fake_vk.sent[-1]
    board = _keyboard(survey)
    labels = [b["action"]["label"] for row in board["buttons"] for b in row]
    assert labels[:11] == [str(n) for n in range(11)]
    assert board.get("one_time") is True  # 13 buttons: more than an inline keyboard holds
    assert all(len(row) <= 5 for row in board["buttons"])  # VK allows five a row
    assert [b["action"]["label"] for b in board["buttons"][0]] == ["0", "1", "2", "3", "4"]
    # Text buttons, which VK hides after a tap (it ignores one_time for callback buttons, and
    # the scale stayed under the chat); a tap arrives as the user's message with our payload.
    assert {b["action"]["type"] for row in board["buttons"] for b in row} == {"text"}
    nine = next(b for row in board["buttons"] for b in row if b["action"]["label"] == "9")
    await vk.post(vk.message(USER, "9", payload=nine["action"]["payload"]))
    await vk.wait_sent(fake_vk, 3)
    assert fake_vk.texts(USER)[-1].startswith("Спасибо! Какая главная причина вашей оценки?")
    async with faq_loaded.engine.connect() as conn:
        assert (await conn.execute(select(SurveyResponse.score))).scalar_one() == 9


async def test_blocked_on_one_channel_asked_on_another(
    start_app: AppFactory, fake_tg: FakeTelegram, fake_vk: FakeVk, faq_loaded: Database
):
    """One person on VK and Telegram blocks the bot in Telegram: that channel is marked, not
    the person; the next campaign asks on VK; writing in Telegram again makes it usable."""
    telegram_user = 7007
    app = await start_app(channels=_vk(fake_vk), scheduler={"enabled": False})
    vk = _callbacks(app)
    await vk.post(vk.message(USER, "/link"))
    await vk.wait_sent(fake_vk, 1)
    code = fake_vk.texts(USER)[-1].split()[2]  # "Ваш код: ABCD-EFGH. ..."
    await fake_tg.deliver(fake_tg.message_update(telegram_user, f"/link {code}"))
    await app.drain()
    asked = fake_tg.calls_of("sendMessage")[-1].params  # "this code was asked for in VK: yours?"
    assert asked["text"].startswith("Этот код получен в чате «ВКонтакте»"), asked["text"]
    yes = asked["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    await fake_tg.deliver(fake_tg.callback_update(telegram_user, yes))
    await app.drain()
    assert fake_tg.sent_texts(telegram_user)[-1].startswith("Готово")
    fake_tg.blocked_chats.add(telegram_user)
    pool = create_session_pool(faq_loaded.engine)
    async with pool() as session, session.begin():
        await service.create_survey(session, "nps", "nps", False, "{}")
        await service.create_campaign(session, name="first", survey_name="nps", run_at=NOW)
    await launch_campaigns(app.services)
    await app.services.campaigns.run_until_idle()
    async with faq_loaded.engine.connect() as conn:
        (blocked, unreachable) = (
            await conn.execute(
                select(Customer.blocked_channels, Customer.unreachable).where(
                    Customer.merged_into.is_(None)
                )
            )
        ).one()
    assert (blocked, unreachable) == ("telegram", False)
    async with pool() as session, session.begin():
        await service.create_campaign(session, name="second", survey_name="nps", run_at=NOW)
    await launch_campaigns(app.services)
    await app.services.campaigns.run_until_idle()
    survey = fake_vk.sent[-1]
    assert survey["message"].startswith("Насколько вероятно"), survey["message"]
    # They unblock the bot and write in Telegram: that channel is theirs again.
    fake_tg.blocked_chats.discard(telegram_user)
    await fake_tg.deliver(fake_tg.message_update(telegram_user, "привет"))
    await app.drain()
    async with faq_loaded.engine.connect() as conn:
        (blocked, unreachable) = (
            await conn.execute(
                select(Customer.blocked_channels, Customer.unreachable).where(
                    Customer.merged_into.is_(None)
                )
            )
        ).one()
    assert (blocked, unreachable) == ("", False)


async def test_the_faq_list_fits_vk_keyboards_and_the_start_button_greets(
    start_app: AppFactory, fake_vk: FakeVk, faq_loaded: Database
):
    """The fake refuses a keyboard past VK's limits with VK's own error 911, as VK does: a
    page of ten questions and "▶" as eleven one-button rows never reached a customer."""
    app = await start_app(telegram_mode=None, channels=_vk(fake_vk), scheduler={"enabled": False})
    vk = _callbacks(app)
    await vk.post(vk.message(USER, "/faq"))
    await vk.wait_sent(fake_vk, 1)
    board = _keyboard(fake_vk.sent[-1])
    labels = [b["action"]["label"] for row in board["buttons"] for b in row]
    assert len(labels) == 11 and labels[-1].endswith("▶")
    assert len(board["buttons"]) <= 10
    # VK's Start button, as VK sends it for a new customer (payload {"command":"start"}; the
    # shape of message_new with client_info from VK's Callback API documentation, v5.199).
    start = vk.event(
        "message_new",
        {
            "message": {
                "date": 1733300000,
                "from_id": USER + 1,
                "id": 0,
                "out": 0,
                "peer_id": USER + 1,
                "text": "Начать",
                "conversation_message_id": 1,
                "payload": '{"command":"start"}',
                "attachments": [],
                "is_hidden": False,
            },
            "client_info": {
                "button_actions": [
                    "text",
                    "vkpay",
                    "open_app",
                    "location",
                    "open_link",
                    "callback",
                    "intent_subscribe",
                    "intent_unsubscribe",
                ],
                "keyboard": True,
                "inline_keyboard": True,
                "carousel": True,
                "lang_id": 0,
            },
        },
    )
    assert await vk.post(start) == (200, "ok")
    await vk.wait_sent(fake_vk, 2)
    assert fake_vk.texts(USER + 1)[-1].startswith("Здравствуйте")


def test_keyboards_are_laid_out_within_vk_limits():
    from bot.channels.vk.sender import fit_rows

    eleven = [[n] for n in range(11)]
    assert fit_rows(eleven, 10) == [[n] for n in range(9)] + [[9, 10]]
    assert fit_rows([[1, 2, 3, 4, 5], [6]], 1) == [[1, 2, 3, 4, 5], [6]]  # never a row of six
    assert fit_rows([[1]] * 3, 6) == [[1]] * 3


async def test_a_press_of_a_button_not_ours_still_stops_its_spinner(
    start_app: AppFactory, fake_vk: FakeVk, faq_loaded: Database
):
    app = await start_app(telegram_mode=None, channels=_vk(fake_vk), scheduler={"enabled": False})
    vk = _callbacks(app)
    # message_event as VK's Callback API documents it, with another bot's payload.
    stray = vk.event(
        "message_event",
        {
            "user_id": USER,
            "peer_id": USER,
            "event_id": "3159dc190b1f",
            "payload": {"button": "old-menu"},
            "conversation_message_id": 1,
        },
    )
    assert await vk.post(stray) == (200, "ok")
    for _ in range(100):
        answers = [c for c in fake_vk.calls if c.method == "messages.sendMessageEventAnswer"]
        if answers:
            break
        await asyncio.sleep(0.02)
    assert [c.params["event_id"] for c in answers] == ["3159dc190b1f"]
    assert fake_vk.sent == []  # nothing to say about it


async def test_an_app_without_callback_buttons_or_keyboards_gets_what_it_can_use(
    start_app: AppFactory, fake_vk: FakeVk, faq_loaded: Database
):
    """VK says in each message's client_info what the user's app can show: without
    "callback" in button_actions, text buttons; without keyboards, numbers to type."""
    app = await start_app(telegram_mode=None, channels=_vk(fake_vk), scheduler={"enabled": False})
    vk = _callbacks(app)
    no_callback = {
        "button_actions": ["text", "location"],
        "keyboard": True,
        "inline_keyboard": True,
        "lang_id": 0,
    }
    question = vk.message(USER, "сколько стоит доставка в регионы")
    question["object"]["client_info"] = no_callback
    await vk.post(question)
    await vk.wait_sent(fake_vk, 1)
    board = _keyboard(fake_vk.sent[-1])
    assert board.get("inline") is True
    assert {b["action"]["type"] for row in board["buttons"] for b in row} == {"text"}
    # An app with no keyboards at all: the options are numbered, and a typed number works.
    bare = vk.message(USER + 5, "/start")
    bare["object"]["client_info"] = {
        "button_actions": ["text"],
        "keyboard": False,
        "inline_keyboard": False,
        "lang_id": 0,
    }
    await vk.post(bare)
    await vk.wait_sent(fake_vk, 2)
    menu = fake_vk.sent[-1]
    assert "keyboard" not in menu
    line = next(line for line in menu["message"].splitlines() if "Часы работы" in line)
    number = line.split()[0].strip(".·)")
    plain = vk.message(USER + 5, number)
    plain["object"]["client_info"] = bare["object"]["client_info"]
    await vk.post(plain)
    await vk.wait_sent(fake_vk, 3)
    assert "Сейчас" in fake_vk.sent[-1]["message"]
