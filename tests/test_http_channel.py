"""The generic HTTP channel end to end: real requests to the app's route, replies POSTed to the
example receiver (`examples/http_channel_receiver.py`) on a real port, a real database."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from bot.app import launch_campaigns
from bot.campaigns import service
from bot.core.channel import Capabilities, fit
from bot.core.messages import Button, Reply
from examples.http_channel_receiver import Receiver, sign
from storage.db import create_session_pool
from storage.models import Customer, InboundEvent, SurveyResponse
from tests.conftest import HTTP_CHANNEL_SECRET as SECRET
from tests.conftest import AppFactory, Database, RunningApp
from tests.fake_telegram import FakeTelegram

PATH = "/api/v1/channels/shop/messages"
STAFF_CHAT = -100555
NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)  # start_app's clock: 13:00 in Moscow
AGENT = 8


def _channel(url: str) -> dict[str, Any]:
    return {"http": {"shop": {"outbound_url": url, "secret": SECRET}}}


async def _post(
    app: RunningApp, payload: Any, *, secret: str = SECRET, now: float | None = None
) -> tuple[int, Any]:
    body = json.dumps(payload, ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json", **sign(secret, body, now)}
    async with app.http.post(app.url + PATH, data=body, headers=headers) as resp:
        return resp.status, await resp.json()


async def _received(receiver: Receiver, count: int, within: float = 5.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + within
    while len(receiver.received) < count:
        assert time.monotonic() < deadline, receiver.received
        await asyncio.sleep(0.02)
    return receiver.received


async def _count(database: Database, model: type) -> int:
    async with database.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(model))).scalar_one())


async def test_wrong_missing_or_stale_signatures_store_nothing(
    start_app: AppFactory, faq_loaded: Database, platform: tuple[Receiver, str]
):
    receiver, url = platform
    app = await start_app(telegram_mode=None, channels=_channel(url))
    message = {"id": "m-1", "user": "u-1", "text": "hello"}
    body = json.dumps(message).encode()
    async with app.http.post(app.url + PATH, data=body) as resp:
        assert resp.status == 401
        assert "required" in (await resp.json())["error"]
    assert (await _post(app, message, secret="another-secret-of-16+"))[0] == 401
    status, answer = await _post(app, message, now=time.time() - 400)
    assert status == 401 and "replay" in answer["error"]
    # The body is signed: changing it after signing is refused.
    headers = {"Content-Type": "application/json", **sign(SECRET, body)}
    tampered = body.replace(b"hello", b"HELLO")
    async with app.http.post(app.url + PATH, data=tampered, headers=headers) as resp:
        assert resp.status == 401
    assert await _count(faq_loaded, Customer) == 0
    assert await _count(faq_loaded, InboundEvent) == 0
    # Well signed but malformed: 400 naming the field.
    status, answer = await _post(app, {"id": "m-2", "user": "u 1", "text": "x"})
    assert status == 400 and "'user'" in answer["error"]
    status, answer = await _post(app, {"id": "m-3", "user": "u-1"})
    assert status == 400 and "exactly one of 'text' and 'button'" in answer["error"]
    assert receiver.received == []


async def test_question_answer_button_and_idempotency(
    start_app: AppFactory, faq_loaded: Database, platform: tuple[Receiver, str]
):
    receiver, url = platform
    app = await start_app(telegram_mode=None, channels=_channel(url))
    question = {"id": "m-1", "user": "u-1", "text": "How much is shipping?", "name": "Ann"}
    assert await _post(app, question) == (202, {"accepted": True, "duplicate": False})
    (answer,) = await _received(receiver, 1)
    assert answer["user"] == "u-1"
    assert answer["title"] == "How much does delivery cost?"
    assert [[b["text"] for b in row] for row in answer["buttons"]] == [["👍 Yes", "👎 No"]]
    # The platform retries the same message: nothing new happens.
    assert await _post(app, question) == (200, {"accepted": True, "duplicate": True})
    await asyncio.sleep(0.2)
    assert len(receiver.received) == 1
    vote = {"id": "m-2", "user": "u-1", "button": answer["buttons"][0][0]["data"]}
    assert (await _post(app, vote))[0] == 202
    assert (await _received(receiver, 2))[-1]["text"] == "Thanks for the feedback!"
    assert receiver.refused == 0  # every request Otklik made was signed correctly


async def test_complaint_staff_reply_retries_and_a_gone_user(
    start_app: AppFactory,
    fake_tg: FakeTelegram,
    faq_loaded: Database,
    platform: tuple[Receiver, str],
):
    receiver, url = platform
    fake_tg.members[AGENT] = "member"
    app = await start_app(
        telegram={"staff_chat_id": STAFF_CHAT},
        channels=_channel(url),
        outbox={"retry_base_seconds": 0.2, "recovery_seconds": 0.3},
    )
    assert (await _post(app, {"id": "c-1", "user": "u-7", "text": "/complaint"}))[0] == 202
    await _post(app, {"id": "c-2", "user": "u-7", "text": "Заказ 42 пришёл разбитым"})
    opened = (await _received(receiver, 2))[-1]
    assert opened["text"].startswith("Обращение №1 принято: «Заказ 42 пришёл разбитым»")
    card = (await fake_tg.wait_for("sendMessage"))[0]
    assert "shop" in card.params["text"]
    # The platform is down for two tries; the staff reply still arrives.
    receiver.answers = [503, 500]
    await fake_tg.deliver(fake_tg.group_message(STAFF_CHAT, AGENT, "Заменим", thread_id=500))
    await app.drain()
    reply = (await _received(receiver, 3, within=10))[-1]
    assert reply == {
        "user": "u-7",
        "text": "Поддержка (Иван):\nЗаменим",
        "title": None,
        "buttons": [],
    }
    # 410 Gone: the user no longer exists on the platform; staff are told.
    receiver.answers = [410]
    await fake_tg.deliver(fake_tg.group_message(STAFF_CHAT, AGENT, "Ещё вопрос", thread_id=500))
    await app.drain()
    for _ in range(100):
        async with faq_loaded.engine.connect() as conn:
            gone = (await conn.execute(select(Customer.unreachable))).scalar_one()
        if gone:
            break
        await asyncio.sleep(0.05)
    assert gone is True
    for _ in range(100):
        if any(t.startswith("⚠️ The customer blocked the bot") for t in fake_tg.sent_texts()):
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError(fake_tg.sent_texts())


async def test_survey_over_the_http_channel(
    start_app: AppFactory, faq_loaded: Database, platform: tuple[Receiver, str]
):
    receiver, url = platform
    app = await start_app(telegram_mode=None, channels=_channel(url), scheduler={"enabled": False})
    await _post(app, {"id": "s-0", "user": "u-9", "text": "hello"})
    await _received(receiver, 1)
    async with create_session_pool(faq_loaded.engine)() as session, session.begin():
        await service.create_survey(session, "nps", "nps", False, "{}")
        await service.create_campaign(session, name="NPS", survey_name="nps", run_at=NOW)
    await launch_campaigns(app.services)
    await app.services.campaigns.run_once()
    survey = (await _received(receiver, 2))[-1]
    rows = survey["buttons"]
    labels = [b["text"] for row in rows for b in row]
    assert all(len(row) <= 4 for row in rows)  # the platform's buttons_per_row
    assert labels[:11] == [str(n) for n in range(11)]
    nine = next(b for row in rows for b in row if b["text"] == "9")
    await _post(app, {"id": "s-1", "user": "u-9", "button": nine["data"]})
    follow_up = (await _received(receiver, 3))[-1]
    assert follow_up["text"].startswith("Thank you! What is the main reason for your score?")
    async with faq_loaded.engine.connect() as conn:
        score = (await conn.execute(select(SurveyResponse.score))).scalar_one()
    assert score == 9


async def test_a_platform_without_buttons_gets_numbered_text(
    start_app: AppFactory, faq_loaded: Database, platform: tuple[Receiver, str]
):
    """An SMS bridge shows no buttons: options are numbered, and a typed number answers them,
    once; the same number typed later is plain text again."""
    receiver, url = platform
    channels = {"http": {"sms": {"outbound_url": url, "secret": SECRET, "buttons_per_message": 0}}}
    app = await start_app(telegram_mode=None, channels=channels, scheduler={"enabled": False})
    path = "/api/v1/channels/sms/messages"

    async def post(payload: dict[str, Any]) -> int:
        body = json.dumps(payload, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json", **sign(SECRET, body)}
        async with app.http.post(app.url + path, data=body, headers=headers) as resp:
            return resp.status

    assert await post({"id": "q-1", "user": "79990001122", "text": "How much is shipping?"}) == 202
    (answer,) = await _received(receiver, 1)
    assert answer["buttons"] == []
    assert answer["text"].endswith("\n\n1 — 👍 Yes\n2 — 👎 No"), answer["text"]
    await post({"id": "q-2", "user": "79990001122", "text": " 1 "})
    assert (await _received(receiver, 2))[-1]["text"] == "Thanks for the feedback!"
    async with create_session_pool(faq_loaded.engine)() as session, session.begin():
        await service.create_survey(session, "nps", "nps", False, "{}")
        await service.create_campaign(session, name="NPS", survey_name="nps", run_at=NOW)
    await launch_campaigns(app.services)
    await app.services.campaigns.run_once()
    survey = (await _received(receiver, 3))[-1]
    assert survey["buttons"] == []
    scale = " · ".join(str(n) for n in range(11))
    assert survey["text"].endswith(f"\n\n{scale}\n11 — Ask me less\n12 — Stop surveys")
    await post({"id": "q-3", "user": "79990001122", "text": "9"})
    follow_up = (await _received(receiver, 4))[-1]
    assert follow_up["text"].startswith("Thank you! What is the main reason for your score?")
    async with faq_loaded.engine.connect() as conn:
        score = (await conn.execute(select(SurveyResponse.score))).scalar_one()
    assert score == 9
    # The follow-up asks for words: "9" again is the comment, not a second score.
    await post({"id": "q-4", "user": "79990001122", "text": "9"})
    await _received(receiver, 5)
    async with faq_loaded.engine.connect() as conn:
        scores = (await conn.execute(select(SurveyResponse.score))).scalars().all()
    assert list(scores) == [9]


def test_fit_reshapes_a_reply_to_what_a_channel_shows():
    nps = tuple(Button(str(n), f"sv:1:{n}") for n in range(11))
    reply = Reply("Как вы оцените нас?" * 30, title="Опрос", buttons=(nps,), edit_message_id=5)
    small = Capabilities(text_chars=200, buttons_per_row=3, button_chars=8, edits=False)
    parts = fit(reply, small)
    assert [len(p.text) <= 200 for p in parts] == [True] * len(parts) and len(parts) == 3
    assert parts[0].title == "Опрос" and parts[1].title is None
    assert all(not p.buttons for p in parts[:-1])
    assert [len(row) for row in parts[-1].buttons] == [3, 3, 3, 2]
    assert all(p.edit_message_id is None for p in parts)
    long_label = Reply("x", buttons=((Button("очень длинная подпись", "d"),),))
    (fitted,) = fit(long_label, small)
    assert fitted.buttons[0][0].text == "очень д…"
    none = fit(Reply("x", buttons=(nps,)), Capabilities(buttons_per_message=0))
    assert none[0].buttons == ()
