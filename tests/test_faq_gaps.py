"""Learning from misses: questions the bot could not answer and answers rated 👎 are kept,
`otklik faq gaps` groups them by meaning with counts, examples and the closest entry, and the
one step it prints (`otklik faq keyword ...`) makes the next customer who asks get the answer.
Driven through the real conversation over the fake Bot API and the real CLI."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.core.understanding.gaps import find_gaps, group_by_words
from storage.db import create_session_pool
from storage.models import FaqEntry, FaqMiss
from tests.browser import chromium, needs_chromium, screenshot
from tests.conftest import AppFactory, Database, RunningApp, run_otklik
from tests.fake_telegram import FakeTelegram
from tests.staff import browser_session, sign_in_page


async def _say(fake_tg: FakeTelegram, app: RunningApp, chat: int, text: str) -> str:
    await fake_tg.deliver(fake_tg.message_update(chat, text))
    await app.drain()
    return fake_tg.sent_texts(chat)[-1]


def _button(fake_tg: FakeTelegram, chat: int, starts: str, ends: str = "") -> str:
    last = [c for c in fake_tg.calls_of("sendMessage") if int(c.params["chat_id"]) == chat][-1]
    markup = last.params["reply_markup"]
    if isinstance(markup, str):
        import json

        markup = json.loads(markup)
    found = [b["callback_data"] for row in markup["inline_keyboard"] for b in row]
    return next(d for d in found if d.startswith(starts) and d.endswith(ends))


async def _cli(database: Database, tmp_path: Path, *args: str):  # type: ignore[no-untyped-def]
    return await asyncio.to_thread(run_otklik, database, "faq", *args, cwd=tmp_path)


async def test_misses_are_grouped_and_one_command_closes_a_gap(
    start_app: AppFactory, fake_tg: FakeTelegram, faq_loaded: Database, tmp_path: Path
):
    app = await start_app(scheduler={"enabled": False})
    # The same question from three customers, in words the FAQ does not have.
    for chat in (9501, 9502, 9503):
        reply = await _say(fake_tg, app, chat, "дарите скидку в день рождения")
        assert reply.startswith("Я не уверен, что понял"), reply  # suggestions, no answer
    await _say(fake_tg, app, 9504, "посоветуйте фильм на вечер")
    # An answer rated 👎 counts as a miss of the question it answered.
    answer = await _say(fake_tg, app, 9505, "как вернуть товар")
    assert "помогло" in answer.lower()
    await fake_tg.deliver(fake_tg.callback_update(9505, _button(fake_tg, 9505, "fb:", ":n")))
    await app.drain()
    # A redelivered update records nothing twice.
    again = fake_tg.message_update(9506, "посоветуйте фильм на вечер")
    await fake_tg.deliver(again)
    await fake_tg.deliver(again)
    await app.drain()
    async with create_session_pool(faq_loaded.engine)() as session:
        kinds = sorted((await session.execute(select(FaqMiss.kind))).scalars())
    assert kinds.count("unhelpful") == 1 and len(kinds) == 6, kinds

    done = await _cli(faq_loaded, tmp_path, "gaps")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith("6 questions missed"), out
    first = out.split("\n\n")[1]  # the biggest group first: the birthday question, 3 times
    assert "asked 3 times" in first and "день рождения" in first, out
    assert "rated 👎" in out and "'как вернуть товар'" in out, out
    keyword = next(line for line in first.splitlines() if "otklik faq keyword" in line)
    slug = keyword.split("otklik faq keyword ")[1].split()[0]

    # The printed step, with the slug it names: the next customer gets that entry's answer.
    done = await _cli(faq_loaded, tmp_path, "keyword", slug, "дарите скидку в день рождения")
    assert done.returncode == 0 and "now also answers" in done.stdout, done
    await asyncio.sleep(2.1)  # the FAQ index notices an edit from another process within 2 s
    assert "помогло" in (await _say(fake_tg, app, 9507, "дарите скидку в день рождения")).lower()

    # A window with no misses, and bad input answered plainly.
    done = await _cli(faq_loaded, tmp_path, "gaps", "--from", "2026-11-25")
    assert done.stdout.startswith("no gaps: 0 questions"), done.stdout
    done = await _cli(faq_loaded, tmp_path, "gaps", "--to", "2026-11-24")
    # The question asked after the keyword was answered: no new miss.
    assert done.stdout.startswith("6 questions missed, in 3 groups"), done.stdout
    assert (await _cli(faq_loaded, tmp_path, "gaps", "--from", "tomorrow")).returncode == 2
    assert (await _cli(faq_loaded, tmp_path, "gaps", "--min", "0")).returncode == 2
    missing = await _cli(faq_loaded, tmp_path, "keyword", "no-such", "x")
    assert missing.returncode == 2 and "otklik: no FAQ entry 'no-such'" in missing.stderr
    added = await _cli(faq_loaded, tmp_path, "add", "gifts", "Дарите подарки?", "Да, скидку 10 %.")
    assert added.returncode == 0, added
    twice = await _cli(faq_loaded, tmp_path, "add", "gifts", "Дарите подарки?", "Да.")
    assert twice.returncode == 2 and "exists; edit it instead" in twice.stderr
    bad = await _cli(faq_loaded, tmp_path, "add", "Bad Slug!", "q", "a")
    assert bad.returncode == 2


async def test_grouping_puts_one_question_in_many_words_together(faq_loaded: Database):
    from bot.config import FaqConfig
    from bot.core.understanding.faq_catalog import FaqCatalog
    from bot.core.understanding.semantic import load_embedder
    from storage.models import utcnow
    from storage.repositories.faq_gaps import Miss

    now = utcnow()
    asked = [
        "можно оплатить частями",
        "можно ли оплатить частями?",
        "Можно оплатить ЧАСТЯМИ",
        "какая сегодня погода",
    ]
    misses = [Miss(text, "unanswered", None, now) for text in asked]
    async with create_session_pool(faq_loaded.engine)() as session:
        for embedder in (load_embedder("auto"), None):
            matcher = await FaqCatalog(FaqConfig(), embedder).matcher(session)
            gaps = await find_gaps(matcher, misses)
            assert [g.count for g in gaps] == [3, 1], (embedder, gaps)
            assert gaps[0].examples[0].lower().startswith("можно")
            assert gaps[1].nearest is None  # the weather: no entry is close enough to offer
    assert group_by_words(["доставка в казань", "доставка в москву", "возврат денег"]) == [
        [0],
        [1],
        [2],
    ]


async def test_the_console_shows_gaps_and_closes_one_in_a_click(
    start_app: AppFactory, faq_loaded: Database
):
    from tests.test_web_console import _sign_in, _staff

    app = await start_app(telegram_mode=None, scheduler={"enabled": False})
    await _staff(faq_loaded, "boss", "admin")
    await _staff(faq_loaded, "anna", "agent")
    asked = "дарите скидку в день рождения"
    for session, text in (
        ("gap-session-1", asked),
        ("gap-session-2", asked),
        ("gap-session-3", "<b>фильм</b> посоветуете на вечер?"),
    ):
        status, _ = await app.post_json("/api/v1/chat/messages", {"session": session, "text": text})
        assert status == 200
    async with browser_session() as agent, browser_session() as admin:
        await _sign_in(agent, app, "anna")
        async with agent.get(app.url + "/admin/gaps") as resp:
            assert resp.status == 403
        csrf = await _sign_in(admin, app, "boss")
        headers = {"Accept-Language": "en"}
        async with admin.get(app.url + "/admin/gaps", headers=headers) as resp:
            html = await resp.text()
        assert resp.status == 200, html
        assert "Asked 2 times" in html and "3 questions missed, in 2 groups" in html, html
        assert "&lt;b&gt;фильм&lt;/b&gt;" in html and "<b>фильм" not in html
        # Only the near group offers a keyword; each offers a new entry.
        assert html.count('name="entry_id"') == 1
        entry_id = re.search(r'name="entry_id" value="(\d+)"', html)
        assert entry_id is not None
        new_entry = re.findall(r'href="(/admin/faq\?question=[^"]+)"', html)
        assert len(new_entry) == 2
        async with admin.get(app.url + new_entry[1].replace("&amp;", "&")) as resp:
            assert 'value="&lt;b&gt;фильм&lt;/b&gt; посоветуете на вечер?"' in (await resp.text())

        form = {"csrf": csrf, "entry_id": entry_id.group(1), "phrase": asked}
        async with admin.post(
            app.url + "/admin/gaps/keyword", data={**form, "csrf": "forged"}
        ) as resp:
            assert resp.status == 403
        async with admin.post(
            app.url + "/admin/gaps/keyword", data=form, allow_redirects=False
        ) as resp:
            assert resp.status == 303
            assert resp.headers["Location"] == "/admin/gaps?done=keyword_added"
        async with admin.post(
            app.url + "/admin/gaps/keyword", data={**form, "entry_id": "99999"}
        ) as resp:
            assert resp.status == 404
        async with admin.post(
            app.url + "/admin/gaps/keyword",
            data={**form, "entry_id": "x"},
            allow_redirects=False,
        ) as resp:
            assert resp.headers["Location"] == "/admin/gaps?done=bad_entry"
    async with create_session_pool(faq_loaded.engine)() as session:
        entry = await session.get(FaqEntry, int(entry_id.group(1)))
        assert entry is not None and asked in entry.keywords.splitlines()
    await asyncio.sleep(2.1)  # the index notices the edit
    status, body = await app.post_json(
        "/api/v1/chat/messages", {"session": "gap-session-4", "text": asked}
    )
    assert entry.answer in body["replies"][0]["text"], body


@needs_chromium
async def test_an_admin_closes_a_gap_in_the_browser(
    start_app: AppFactory, faq_loaded: Database, tmp_path: Path
):

    from tests.test_web_console import _staff

    app = await start_app(telegram_mode=None, scheduler={"enabled": False})
    await _staff(faq_loaded, "boss", "admin")
    for number, text in enumerate(
        (
            "дарите скидку в день рождения",
            "дарите скидку в день рождения?",
            "посоветуйте фильм на вечер",
            "какой фильм посмотреть вечером",
        ),
        start=1,
    ):
        status, _ = await app.post_json(
            "/api/v1/chat/messages", {"session": f"browser-gap-{number}", "text": text}
        )
        assert status == 200
    shots = Path(os.environ.get("OTKLIK_SCREENSHOTS", tmp_path))
    async with chromium() as browser:
        page = await browser.new_page(locale="ru-RU", viewport={"width": 1100, "height": 800})
        await page.goto(app.url + "/admin/gaps")
        await sign_in_page(page)
        await page.wait_for_url(re.compile(r"/admin/gaps$"))
        summary = await page.locator("#gaps-summary").inner_text()
        assert summary.startswith("Вопросов без ответа: 4, групп одного смысла: 2"), summary
        await screenshot(page, str(shots / "admin-gaps.png"))
        first = page.locator(".gap").first
        await first.locator("button").click()
        await page.get_by_role("status").wait_for()
        assert (await page.get_by_role("status").inner_text()).startswith("Добавлено")


async def test_a_batch_with_misses_is_handled_as_one_batch(
    start_app: AppFactory,
    fake_tg: FakeTelegram,
    faq_loaded: Database,
    caplog: pytest.LogCaptureFixture,
):
    """A miss points at the customer's message, whose row a batch writes only at its end (one
    INSERT for the batch): the miss must be written after it, not fail the batch (which
    once made every update fall back to a transaction of its own, at twice the CPU)."""
    app = await start_app(scheduler={"enabled": False})
    updates = [
        fake_tg.message_update(9600 + n, text)
        for n, text in enumerate(
            ("посоветуйте фильм на вечер", "продайте мне слона", "какая сегодня погода")
        )
    ]
    with caplog.at_level(logging.WARNING):
        await app.handle_as_one_batch(updates)
    assert not [r for r in caplog.records if "handling each alone" in r.getMessage()]
    async with create_session_pool(faq_loaded.engine)() as session:
        kinds = list((await session.execute(select(FaqMiss.kind))).scalars())
    assert kinds == ["unanswered"] * 3


async def test_the_api_reports_gaps_with_the_entry_that_came_closest(
    start_app: AppFactory, fake_tg: FakeTelegram, faq_loaded: Database
):
    from tests.api_client import make_token, open_api

    app = await start_app(scheduler={"enabled": False})
    for chat in (9601, 9602):
        await _say(fake_tg, app, chat, "дарите скидку в день рождения")
    await _say(fake_tg, app, 9603, "посоветуйте фильм на вечер")
    api = await open_api(app)
    admin = await make_token(faq_loaded, "admin-1", "admin")
    status, report = await api.call("GET", "/api/v1/reports/faq-gaps", admin)
    assert status == 200 and report["misses"] == 3, report
    birthday, film = report["groups"]  # biggest first
    assert birthday["count"] == 2 and birthday["examples"] == ["дарите скидку в день рождения"]
    assert birthday["suggested"] == 2 and birthday["unanswered"] == birthday["unhelpful"] == 0
    nearest = birthday["nearest"]
    assert nearest is not None and nearest["language"] == "ru" and nearest["slug"], nearest
    # The one step it points at: that entry's keyword, through the API's own FAQ edit.
    template = "/api/v1/faq/{entry_id}"
    path = f"/api/v1/faq/{nearest['entry_id']}"
    _, entry = await api.call("GET", path, admin, template=template)
    keywords = [*entry["keywords"], birthday["examples"][0]]
    status, _ = await api.call(
        "PATCH", path, admin, json={"keywords": keywords}, template=template, if_match=api.etag
    )
    assert status == 200
    assert "помогло" in (await _say(fake_tg, app, 9604, "дарите скидку в день рождения")).lower()

    assert film["count"] == 1 and film["examples"] == ["посоветуйте фильм на вечер"]
    day = "2026-11-24"  # the app's clock: the misses are dated then
    _, window = await api.call("GET", "/api/v1/reports/faq-gaps", admin, params={"to": day})
    assert window["misses"] == 3
    _, later = await api.call(
        "GET", "/api/v1/reports/faq-gaps", admin, params={"from": "2026-11-25"}
    )
    assert later == {"misses": 0, "groups": []}
    _, big = await api.call("GET", "/api/v1/reports/faq-gaps", admin, params={"min": "2"})
    assert [g["count"] for g in big["groups"]] == [2]
    status, error = await api.call("GET", "/api/v1/reports/faq-gaps", admin, params={"min": "0"})
    assert status == 422 and "min" in json.dumps(error), error
    agent = await make_token(faq_loaded, "agent-1", "agent")
    assert (await api.call("GET", "/api/v1/reports/faq-gaps", agent))[0] == 403


async def test_an_admin_reads_the_gaps_in_telegram(
    start_app: AppFactory, fake_tg: FakeTelegram, faq_loaded: Database
):
    admin = 9700
    app = await start_app(scheduler={"enabled": False}, telegram={"admin_ids": [admin]})
    assert (await _say(fake_tg, app, admin, "/report gaps")).startswith(
        "За 30 дней вопросов без ответа нет"
    )
    for chat in (9701, 9702):
        await _say(fake_tg, app, chat, "дарите скидку в день рождения")
    await _say(fake_tg, app, 9703, "посоветуйте <b>фильм</b> на вечер")
    text = await _say(fake_tg, app, admin, "/report gaps")
    lines = text.splitlines()
    assert lines[0].startswith("Вопросы, на которые FAQ не ответил, за 30 дней: 3, групп: 2")
    assert lines[1] == "1. 2×: «дарите скидку в день рождения»", text
    assert re.fullmatch(
        r"   ближе всего: «.+»\. Закрыть: otklik faq keyword [a-z0-9-]+ "
        r"'дарите скидку в день рождения'",
        lines[2],
    ), text
    # Shown as text, never as markup: the customer's "<b>" reaches the admin escaped.
    assert lines[3] == "2. 1×: «посоветуйте &lt;b&gt;фильм&lt;/b&gt; на вечер»", text
    english = fake_tg.message_update(admin, "/report gaps", language_code="en")
    await fake_tg.deliver(english)
    await app.drain()
    assert fake_tg.sent_texts(admin)[-1].startswith(
        "Questions the FAQ did not answer in the last 30 days: 3, in 2 groups"
    )
