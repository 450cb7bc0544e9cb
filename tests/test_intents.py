"""Built-in intents in plain words, through the real conversation over the fake Bot API:
working hours, a person, a complaint, my tickets, stop surveys, greetings and thanks, in
both languages, and the admin's own phrasings file."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.config import ConfigError
from bot.core.understanding.intents import (
    IntentFileError,
    IntentMatcher,
    load_phrasings,
    parse_intents,
)
from storage.db import create_session_pool
from storage.models import Customer
from tests.conftest import AppFactory, Database, RunningApp, run_otklik
from tests.fake_telegram import FakeTelegram


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("Во сколько вы открываетесь?", "hours"),
        ("во сколько вы работаете в субботу?", "hours"),
        ("what are your hours on sunday", "hours"),
        ("график работы на неделю", "hours"),
        ("are you open tomorrow", "hours"),
        ("вы сейчас открыты?", "hours"),
        ("а вы работаете сегодня", "hours"),
        ("what time do u close", "hours"),
        ("позовите оператора", "human"),
        ("I want to talk to a human", "human"),
        ("хочу пожаловаться", "complaint"),
        ("мои обращения", "my_tickets"),
        ("отпишите меня от опросов", "stop_surveys"),
        ("unsubscribe", "stop_surveys"),
        ("Привет!", "greeting"),
        ("hi there", "greeting"),
        ("спасибо большое", "thanks"),
        ("ок спс", "thanks"),
        # Two things in one message: one part is wholly an intent (issue 32).
        ("сейчас можно к вам подъехать, вы работаете?", "hours"),
        ("can I come now, are you open?", "hours"),
        ("заказ не пришел, хочу пожаловаться", "complaint"),
        ("the app is broken. let me talk to someone", "human"),
        ("привет, позовите оператора", "human"),
        ("хочу пожаловаться, позовите оператора", "complaint"),  # a person, asked twice
        # ...but not two different requests, nor a greeting or thanks beside a question.
        ("вы сейчас открыты? мои обращения", None),
        ("привет, где мой заказ", None),
        # Not intents: a question for the FAQ, even with a "thanks" or a greeting in it.
        ("спасибо, а когда доставка?", None),
        ("здравствуйте, сколько стоит доставка", None),
        ("хочу", None),
        ("доставка будет?", None),  # "доставк" looks like "оставить жалобу" to typo tolerance
        ("доставка в субботу будет?", None),
        ("суббота", None),
        ("что на выходных", None),  # "что" is in my_tickets' phrasings only, but says nothing
        ("вы", None),
    ],
)
def test_plain_words_are_heard_as_intents(text: str, intent: str | None):
    found = IntentMatcher(load_phrasings()).match(text)
    assert (found.intent if found else None) == intent, found


def test_a_bad_intents_file_names_what_is_wrong():
    with pytest.raises(IntentFileError, match="unknown intent 'weather'"):
        parse_intents("weather:\n  ru: [погода]\n", "mine.yaml")
    with pytest.raises(IntentFileError, match=r"hours\.de"):
        parse_intents("hours:\n  de: [offen]\n", "mine.yaml")


async def _say(fake_tg: FakeTelegram, app: RunningApp, chat: int, text: str) -> str:
    await fake_tg.deliver(fake_tg.message_update(chat, text))
    await app.drain()
    return fake_tg.sent_texts(chat)[-1]


async def test_intents_in_a_conversation(
    start_app: AppFactory, fake_tg: FakeTelegram, faq_loaded: Database
):
    app = await start_app(scheduler={"enabled": False})
    hours = await _say(fake_tg, app, 8101, "Во сколько вы открываетесь?")
    assert "09:00" in hours and "18:00" in hours
    assert "Опишите проблему" in await _say(fake_tg, app, 8102, "позовите оператора")
    opened = await _say(fake_tg, app, 8102, "Курьер опоздал на три часа")
    assert opened.startswith("Обращение №1 принято")
    # With a ticket open, what the customer writes goes to it, words like these included.
    assert "№1" in await _say(fake_tg, app, 8102, "мои обращения")
    assert await _say(fake_tg, app, 8106, "мои обращения") == "У вас нет обращений."
    assert "Describe the problem" in await _say(fake_tg, app, 8103, "I want to talk to a human")
    thanks = await _say(fake_tg, app, 8104, "спасибо")
    assert thanks.startswith("Пожалуйста") and "не нашёл" not in thanks
    assert "Здравствуйте" in await _say(fake_tg, app, 8104, "привет")
    stopped = await _say(fake_tg, app, 8104, "отпишите меня от опросов")
    assert "опрос" in stopped.lower()
    async with create_session_pool(faq_loaded.engine)() as session:
        customers = (await session.execute(Customer.__table__.select())).all()
    opted = {row.display_name: row.surveys_opted_out for row in customers}
    assert list(opted.values()).count(True) == 1
    # A question is still the FAQ's, a thanks in it or not.
    answer = await _say(fake_tg, app, 8105, "спасибо, а сколько стоит доставка?")
    assert "300 ₽" in answer
    # A part of the message that is wholly an intent is acted on.
    hours = await _say(fake_tg, app, 8107, "сейчас можно к вам подъехать, вы работаете?")
    assert "09:00" in hours and "18:00" in hours


async def test_an_admin_adds_phrasings_and_is_told_of_competing_entries(
    start_app: AppFactory, fake_tg: FakeTelegram, faq_loaded: Database, tmp_path: Path
):
    mine = tmp_path / "intents.yaml"
    mine.write_text("human:\n  ru: [дайте админа]\n", encoding="utf-8")
    app = await start_app(scheduler={"enabled": False}, faq={"intents_file": str(mine)})
    assert "Опишите проблему" in await _say(fake_tg, app, 8201, "дайте админа")

    # An FAQ entry asking what an intent answers is reported when the FAQ is imported.
    faq = tmp_path / "faq.yaml"
    faq.write_text(
        "entries:\n  - slug: open\n    ru:\n      question: Во сколько вы открываетесь?\n"
        "      answer: В девять.\n",
        encoding="utf-8",
    )
    done = await asyncio.to_thread(run_otklik, faq_loaded, "faq", "import", str(faq), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "entry 'open' [ru] competes with the built-in intent 'hours'" in done.stdout

    broken = tmp_path / "broken.yaml"
    broken.write_text("weather:\n  ru: [погода]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown intent 'weather'"):
        await start_app(scheduler={"enabled": False}, faq={"intents_file": str(broken)})


async def test_hours_for_a_named_day_the_weekend_and_the_week(
    start_app: AppFactory, fake_tg: FakeTelegram, faq_loaded: Database
):
    # The app's clock: Tuesday 2026-11-24 13:00 in Moscow; Monday to Friday 09-18.
    app = await start_app(scheduler={"enabled": False})
    saturday = await _say(fake_tg, app, 8301, "во сколько вы работаете в субботу?")
    assert saturday.splitlines()[0] == "В субботу, 28.11: выходной", saturday
    friday = await _say(fake_tg, app, 8302, "what time do you close on friday")
    assert friday.splitlines()[0] == "Friday, 27.11: 09:00–18:00", friday
    week = (await _say(fake_tg, app, 8303, "график работы на неделю")).splitlines()
    assert week[0] == "Сегодня, 24.11: 09:00–18:00" and len(week) == 8, week
    assert week[4] == "В субботу, 28.11: выходной"
    assert week[6] == "В понедельник, 30.11: 09:00–18:00"
    assert "Europe/Moscow" in week[7]
    now = await _say(fake_tg, app, 8304, "вы сейчас открыты?")
    assert now.startswith("Сейчас открыто") or now.startswith("Мы сейчас"), now
    # Asked for the hours, not for now: the week, today first.
    for chat, asked in enumerate(
        ("What are your working hours?", "какой у вас режим работы", "часы работы"), start=8305
    ):
        lines = (await _say(fake_tg, app, chat, asked)).splitlines()
        assert len(lines) == 8 and lines[0].endswith("24.11: 09:00–18:00"), (asked, lines)
    for chat, asked in enumerate(("are you open now?", "what time do you close"), start=8310):
        assert len((await _say(fake_tg, app, chat, asked)).splitlines()) < 8, asked
