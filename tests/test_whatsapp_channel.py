"""WhatsApp end to end: the webhook route of the real app, the fake Cloud API
(tests/fake_whatsapp.py) answering Meta's error shapes, a real database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.app import launch_campaigns
from bot.campaigns import service
from storage.db import create_session_pool
from storage.models import Customer, InboundEvent, OutboxMessage, SurveyResponse
from tests.conftest import AppFactory, Database, RunningApp
from tests.fake_telegram import FakeTelegram
from tests.fake_whatsapp import FakeWhatsApp, WhatsAppWebhook

TOKEN = "EAAG-whatsapp-token-for-tests"
PHONE_ID = "106540352242922"
APP_SECRET = "whatsapp-app-secret-0123456"
VERIFY = "verify-me-please"
USER = "79161234567"
STAFF_CHAT = -100222
AGENT = 8
START = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def fake_wa() -> AsyncIterator[FakeWhatsApp]:
    fake = FakeWhatsApp(TOKEN, PHONE_ID)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.close()


def _wa(fake: FakeWhatsApp, **extra: Any) -> dict[str, Any]:
    config = {
        "token": TOKEN,
        "phone_number_id": PHONE_ID,
        "app_secret": APP_SECRET,
        "verify_token": VERIFY,
        "api_base": fake.base_url,
        **extra,
    }
    return {"whatsapp": config}


def _hook(app: RunningApp) -> WhatsAppWebhook:
    return WhatsAppWebhook(f"{app.url}/whatsapp/webhook", APP_SECRET, PHONE_ID)


async def test_verification_and_signatures(
    start_app: AppFactory, fake_wa: FakeWhatsApp, faq_loaded: Database
):
    app = await start_app(telegram_mode=None, channels=_wa(fake_wa))
    url = f"{app.url}/whatsapp/webhook"
    async with aiohttp.ClientSession() as http:
        query = {"hub.mode": "subscribe", "hub.verify_token": VERIFY, "hub.challenge": "1158201444"}
        async with http.get(url, params=query) as resp:
            assert (resp.status, await resp.text()) == (200, "1158201444")
        async with http.get(url, params={**query, "hub.verify_token": "wrong"}) as resp:
            assert resp.status == 403
        async with http.post(url, json=_hook(app).text(USER, "привет")) as resp:
            assert resp.status == 401  # no signature
    hook = _hook(app)
    assert (await hook.post(hook.text(USER, "привет"), secret="another-secret-000000"))[0] == 401
    async with faq_loaded.engine.connect() as conn:
        for model in (Customer, InboundEvent):
            assert (await conn.execute(select(func.count()).select_from(model))).scalar_one() == 0
    assert fake_wa.sent == []


async def test_question_buttons_statuses_and_redelivery(
    start_app: AppFactory, fake_wa: FakeWhatsApp, faq_loaded: Database
):
    app = await start_app(telegram_mode=None, channels=_wa(fake_wa))
    hook = _hook(app)
    question = hook.text(USER, "сколько стоит доставка в регионы")
    assert await hook.post(question) == (200, "ok")
    await fake_wa.wait_sent(1)
    (answer,) = fake_wa.sent
    assert answer["type"] == "interactive" and answer["interactive"]["type"] == "button"
    assert answer["interactive"]["body"]["text"].startswith("*Сколько стоит доставка?*")
    buttons = answer["interactive"]["action"]["buttons"]
    assert [b["reply"]["title"] for b in buttons] == ["👍 Да", "👎 Нет"]
    # Meta resends the same message: nothing happens twice.
    assert await hook.post(question) == (200, "ok")
    await asyncio.sleep(0.2)
    assert len(fake_wa.sent) == 1
    await hook.post(hook.button(USER, buttons[0]["reply"]["id"], "👍 Да"))
    await fake_wa.wait_sent(2)
    assert FakeWhatsApp.text_of(fake_wa.sent[-1]) == "Спасибо за оценку!"
    # Statuses land on the outbox row of the message they are about.
    for _ in range(100):  # stored with the sent-mark, a flush (50 ms) after the send
        async with faq_loaded.engine.connect() as conn:
            first = select(OutboxMessage.external_id).order_by(OutboxMessage.id)
            wamid = (await conn.execute(first)).scalars().first()
        if wamid is not None:
            break
        await asyncio.sleep(0.02)
    assert wamid is not None and wamid.startswith("wamid.FAKE")
    # Meta posts statuses in no set order: read, then the late delivered and sent, leave it
    # read; failed after that changes nothing either.
    for status in ("read", "delivered", "sent"):
        assert await hook.post(hook.status(wamid, status, USER)) == (200, "ok")
    assert await hook.post(hook.status(wamid, "failed", USER, error=131026)) == (200, "ok")
    assert await _delivery(faq_loaded, wamid) == ("read", None)
    # Statuses for another number of the same app, posted to the same URL, are not ours.
    other = WhatsAppWebhook(f"{app.url}/whatsapp/webhook", APP_SECRET, "999000111")
    second = next(r for r in fake_wa.sent if r is not answer)
    second_wamid = await _wamid_of(faq_loaded, 1)
    assert await hook.post(hook.status(second_wamid, "failed", USER, error=131026)) == (200, "ok")
    assert await _delivery(faq_loaded, second_wamid) == (
        "failed",
        "WhatsApp 131026: Message undeliverable",
    )
    assert await other.post(other.status(second_wamid, "delivered", USER)) == (200, "ok")
    assert (await _delivery(faq_loaded, second_wamid))[0] == "failed"
    # A delivery after a failure proves it arrived.
    assert await hook.post(hook.status(second_wamid, "delivered", USER)) == (200, "ok")
    assert await _delivery(faq_loaded, second_wamid) == ("delivered", None)
    assert second["type"] == "text"


async def _wamid_of(database: Database, position: int) -> str:
    for _ in range(100):
        async with database.engine.connect() as conn:
            ordered = select(OutboxMessage.external_id).order_by(OutboxMessage.id)
            found = (await conn.execute(ordered)).scalars().all()
        if len(found) > position and found[position] is not None:
            return str(found[position])
        await asyncio.sleep(0.02)
    raise AssertionError("no wamid stored")


async def _delivery(database: Database, wamid: str) -> tuple[str | None, str | None]:
    async with database.engine.connect() as conn:
        row = (
            await conn.execute(
                select(OutboxMessage.delivery_status, OutboxMessage.error).where(
                    OutboxMessage.external_id == wamid
                )
            )
        ).one()
    return row[0], row[1]


async def test_a_message_to_another_number_of_the_app_is_not_answered_from_ours(
    start_app: AppFactory, fake_wa: FakeWhatsApp, faq_loaded: Database
):
    app = await start_app(telegram_mode=None, channels=_wa(fake_wa))
    other = WhatsAppWebhook(f"{app.url}/whatsapp/webhook", APP_SECRET, "999000111")
    assert await other.post(other.text(USER, "сколько стоит доставка")) == (200, "ok")
    await _hook(app).post(_hook(app).text(USER, "как вернуть товар"))
    await fake_wa.wait_sent(1)
    await asyncio.sleep(0.2)
    assert [FakeWhatsApp.text_of(m).split("\n")[0] for m in fake_wa.sent] == [
        "*Как вернуть товар?*"
    ]


def test_choices_fit_whatsapp_limits_and_stay_distinct():
    """Reply-button titles are cut at 20 and must differ; list rows hold 24 and a description
    of 72; a numbered text holds whole labels. The fake refuses the rest with Meta's 131009."""
    from bot.channels.whatsapp.render import render
    from bot.core.messages import Button, Reply
    from tests.fake_whatsapp import refusal

    def rendered(*labels: str) -> dict[str, Any]:
        reply = Reply(
            "?", buttons=tuple((Button(label, f"b{i}"),) for i, label in enumerate(labels))
        )
        (message,) = render(reply, USER, window_open=True, template="", language="ru").messages
        assert refusal(message) is None, message
        return message

    alike = rendered("Как подобрать размер обуви?", "Как подобрать размер одежды?")
    assert alike["interactive"]["type"] == "list"  # two reply buttons would read the same
    rows = alike["interactive"]["action"]["sections"][0]["rows"]
    assert [r["title"] for r in rows] == ["Как подобрать размер об…", "Как подобрать размер од…"]
    assert rows[0]["description"] == "Как подобрать размер обуви?"
    assert (
        rendered("Как подобрать размер?")["interactive"]["action"]["buttons"][0]["reply"]["title"]
        == "Как подобрать разме…"
    )
    # Four labels that differ only past 24 characters: typed numbers with the whole labels.
    same = rendered(*(f"Вопрос про размер номер {n}" for n in range(4)))
    assert "Вопрос про размер номер 3" in same["text"]["body"]
    four = rendered("Доставка", "Оплата", "Возврат", "Гарантия")
    assert [r["title"] for r in four["interactive"]["action"]["sections"][0]["rows"]] == [
        "Доставка",
        "Оплата",
        "Возврат",
        "Гарантия",
    ]
    twelve = rendered(*(f"Как подобрать размер {n}?" for n in range(12)))
    assert "Как подобрать размер 11?" in twelve["text"]["body"]  # whole labels when typed
    cut = rendered("Как подобрать размер?", "Как подобрать разме!", "Как подобрать разм")
    assert cut["interactive"]["type"] in ("button", "list")


async def test_complaint_rate_limit_window_and_template(
    start_app: AppFactory, fake_tg: FakeTelegram, fake_wa: FakeWhatsApp, faq_loaded: Database
):
    fake_tg.members[AGENT] = "member"
    clock = Clock()
    app = await start_app(
        telegram={"staff_chat_id": STAFF_CHAT},
        channels=_wa(fake_wa),
        outbox={"retry_base_seconds": 0.2, "recovery_seconds": 0.3},
        clock=clock,
    )
    hook = _hook(app)
    await hook.post(hook.text(USER, "/complaint"))
    await hook.post(hook.text(USER, "Не пришёл заказ 55"))
    await fake_wa.wait_sent(2)
    assert FakeWhatsApp.text_of(fake_wa.sent[-1]).startswith("Обращение №1 принято")
    await fake_tg.wait_for("sendMessage")  # the ticket's card: its topic exists
    # Meta's throughput limit (130429): retried, delivered once.
    fake_wa.failures = [130429]
    await fake_tg.deliver(fake_tg.group_message(STAFF_CHAT, AGENT, "Проверяем", thread_id=500))
    await app.drain()
    await fake_wa.wait_sent(3, within=10)
    assert FakeWhatsApp.text_of(fake_wa.sent[-1]) == "Поддержка (Иван):\nПроверяем"
    # A day later the customer-service window is closed and no template is set: not sent,
    # and the topic says why.
    clock.now = START + timedelta(hours=25)
    await fake_tg.deliver(fake_tg.group_message(STAFF_CHAT, AGENT, "Нашли заказ", thread_id=500))
    await app.drain()
    for _ in range(100):
        told = [t for t in fake_tg.sent_texts(STAFF_CHAT) if "could not reach" in t]
        if told:
            break
        await asyncio.sleep(0.05)
    assert told and "24 hours" in told[0] and "template" in told[0]
    assert len(fake_wa.sent) == 3
    async with faq_loaded.engine.connect() as conn:
        failed = (
            (
                await conn.execute(
                    select(OutboxMessage.status).where(OutboxMessage.channel == "whatsapp")
                )
            )
            .scalars()
            .all()
        )
    assert "failed" in failed


async def test_late_reply_uses_the_template(
    start_app: AppFactory, fake_tg: FakeTelegram, fake_wa: FakeWhatsApp, faq_loaded: Database
):
    fake_tg.members[AGENT] = "member"
    clock = Clock()
    app = await start_app(
        telegram={"staff_chat_id": STAFF_CHAT},
        channels=_wa(fake_wa, template="support_reply", template_language="ru"),
        clock=clock,
    )
    hook = _hook(app)
    await hook.post(hook.text(USER, "/complaint"))
    await hook.post(hook.text(USER, "Сломан кран"))
    await fake_wa.wait_sent(2)
    await fake_tg.wait_for("sendMessage")  # the ticket's card: its topic exists
    clock.now = START + timedelta(hours=30)
    reply = "Мастер\tпридёт\nзавтра     с утра"
    await fake_tg.deliver(fake_tg.group_message(STAFF_CHAT, AGENT, reply, thread_id=500))
    await app.drain()
    await fake_wa.wait_sent(3)
    late = fake_wa.sent[-1]
    assert late["type"] == "template" and late["template"]["name"] == "support_reply"
    assert late["template"]["language"] == {"code": "ru"}
    # Template parameters may not hold line breaks, tabs or more than four spaces in a row: the
    # fake refuses them with Meta's 132000, and the customer would get nothing.
    assert FakeWhatsApp.text_of(late) == "Поддержка (Иван): · Мастер придёт · завтра с утра"


async def test_nps_survey_answered_by_typing_the_score(
    start_app: AppFactory, fake_wa: FakeWhatsApp, faq_loaded: Database
):
    app = await start_app(telegram_mode=None, channels=_wa(fake_wa), scheduler={"enabled": False})
    hook = _hook(app)
    await hook.post(hook.text(USER, "привет"))
    await fake_wa.wait_sent(1)
    async with create_session_pool(faq_loaded.engine)() as session, session.begin():
        await service.create_survey(session, "nps", "nps", False, "{}")
        await service.create_campaign(session, name="NPS", survey_name="nps", run_at=START)
    await launch_campaigns(app.services)
    await app.services.campaigns.run_once()
    await fake_wa.wait_sent(2)
    survey = fake_wa.sent[-1]
    # Thirteen options: more than a list holds (10), so numbered text.
    assert survey["type"] == "text"
    lines = survey["text"]["body"].splitlines()
    assert lines[-3] == " · ".join(str(n) for n in range(11))
    assert lines[-2:] == ["11 — Спрашивать реже", "12 — Не присылать опросы"]
    await hook.post(hook.text(USER, "9"))
    await fake_wa.wait_sent(3)
    assert FakeWhatsApp.text_of(fake_wa.sent[-1]).startswith("Спасибо! Какая главная причина")
    async with faq_loaded.engine.connect() as conn:
        assert (await conn.execute(select(SurveyResponse.score))).scalar_one() == 9


async def test_a_template_quick_reply_is_read_by_its_payload(
    start_app: AppFactory, fake_wa: FakeWhatsApp, faq_loaded: Database
):
    """A tap on a template's quick-reply button, in the shape Meta's webhook reference gives
    (type "button" with its payload and visible text): the payload decides, in any language."""
    app = await start_app(telegram_mode=None, channels=_wa(fake_wa))
    hook = _hook(app)
    tap = {"type": "button", "button": {"payload": "hours", "text": "Подробнее"}}
    assert await hook.post(hook.message(USER, tap)) == (200, "ok")
    await fake_wa.wait_sent(1)
    assert "Сейчас" in FakeWhatsApp.text_of(fake_wa.sent[-1])


async def test_a_word_or_two_does_not_switch_the_reply_language(
    start_app: AppFactory, fake_wa: FakeWhatsApp, faq_loaded: Database
):
    """A customer who writes in Russian and then "ok" is answered in Russian both times; a
    sentence in English switches, as it should."""
    app = await start_app(telegram_mode=None, channels=_wa(fake_wa))
    hook = _hook(app)
    for number, text in enumerate(("как вернуть товар", "ok", "how do I return an item"), 1):
        await hook.post(hook.text(USER, text))
        await fake_wa.wait_sent(number)
    first, second, third = (FakeWhatsApp.text_of(m) for m in fake_wa.sent)
    assert first.startswith("*Как вернуть товар?*")
    assert any(c in second for c in "абвгдежзийклмнопрстуфхцчшщыэюя"), second
    assert third.startswith("*How do I return an item?*"), third
