"""The web chat remembers the conversation: a reload or a return shows what was said, with the
buttons still waiting for an answer, and marks what arrived while the page was closed. A
message to a visitor with no page open is held, not counted as sent, until the page shows it:
the campaign's counts and response rate say so."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import launch_campaigns
from bot.campaigns import service
from storage.db import create_session_pool
from storage.models import Campaign, Delivery, OutboxMessage
from storage.repositories.customers import CustomerRepository
from tests.api_client import make_token
from tests.browser import chromium, needs_chromium, screenshot
from tests.conftest import AppFactory, Database, RunningApp

VISITOR = "visitor-restore-1"
NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
_WEBCHAT_ROWS = select(OutboxMessage).where(OutboxMessage.channel == "webchat")


async def _say(app: RunningApp, text: str, session: str = VISITOR) -> dict[str, Any]:
    status, body = await app.post_json("/api/v1/chat/messages", {"session": session, "text": text})
    assert status == 200, body
    return body


async def _history(app: RunningApp, after: int = 0, session: str = VISITOR) -> list[dict[str, Any]]:
    status, answer = await app.chat_history(session, after)
    assert status == 200, answer
    return list(answer["messages"])


async def _staff(app: RunningApp, token: str, method: str, path: str, body: Any) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    if method == "PATCH":  # changes only what the caller has read (If-Match)
        async with app.http.get(app.url + path, headers=headers) as resp:
            headers["If-Match"] = resp.headers["ETag"]
    async with app.http.request(method, app.url + path, json=body, headers=headers) as resp:
        assert resp.status < 300, await resp.text()


async def _complain(app: RunningApp, session: str = VISITOR) -> None:
    await _say(app, "/complaint", session)
    await _say(app, "Чайник пришёл разбитым, заказ 512", session)


async def _settled(app: RunningApp) -> None:
    """The outbox has handed everything over (the visitor's channel holds it)."""
    pool = app.services.session_pool
    for _ in range(200):
        async with pool() as session:
            rows = select(OutboxMessage.status).where(OutboxMessage.channel == "webchat")
            statuses = set((await session.execute(rows)).scalars())
        if statuses <= {"sent"}:
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"outbox not settled: {statuses}")


async def test_what_came_while_the_page_was_closed_is_restored_and_marked_new(
    start_app: AppFactory, faq_loaded: Database
):
    app = await start_app(telegram_mode=None)
    token = await make_token(faq_loaded, "desk", "admin")
    await _complain(app)
    before = await _history(app)
    assert [m["direction"] for m in before] == ["in", "out", "in", "out"]
    assert [before[0]["text"], before[2]["text"]] == [
        "/complaint",
        "Чайник пришёл разбитым, заказ 512",
    ]
    assert not any(m["new"] for m in before)  # answered in the page: shown at once

    # The visitor closed the page. Staff answer, twice, and resolve: a CSAT request follows.
    await _staff(app, token, "POST", "/api/v1/tickets/1/reply", {"text": "Заменим чайник"})
    await _staff(app, token, "POST", "/api/v1/tickets/1/reply", {"text": "Курьер будет завтра"})
    await _staff(app, token, "PATCH", "/api/v1/tickets/1", {"status": "resolved"})
    await _settled(app)
    async with app.services.session_pool() as session:
        rows = (await session.execute(_WEBCHAT_ROWS)).scalars().all()
    assert {r.delivery_status for r in rows} == {"sent"}  # handed over, not yet read

    restored = await _history(app)
    new = [m for m in restored if m["new"]]
    assert [m["text"].split("\n")[-1] for m in new[:2]] == ["Заменим чайник", "Курьер будет завтра"]
    csat = new[-1]
    assert [b["data"].split(":")[0] for b in csat["buttons"]] == ["csat"] * 5  # still live
    assert all(not m["buttons"] for m in restored[:-1])  # answered or superseded: no buttons
    # The page showed them: they are read, and nothing is new any more.
    status, body = await app.post_json(
        "/api/v1/chat/seen", {"session": VISITOR, "upto": restored[-1]["id"]}
    )
    assert (status, body) == (200, {"shown": 3})
    assert not any(m["new"] for m in await _history(app))
    async with app.services.session_pool() as session:
        rows = (await session.execute(_WEBCHAT_ROWS)).scalars().all()
    assert {r.delivery_status for r in rows} == {"read"}

    # With the page open, a reply is pushed with its line id; it is shown once the page says
    # so (a socket that is closing takes a push too); a page that reconnects catches up from
    # its last line and gets what it has not confirmed.
    last = restored[-1]["id"]
    async with app.chat_socket(VISITOR) as socket:
        await _staff(app, token, "POST", "/api/v1/tickets/1/reply", {"text": "Ещё вопрос?"})
        frame = await socket.receive_json(timeout=10)
        pushed = frame["replies"][0]["id"]
        assert frame["type"] == "replies" and pushed > last
        assert [(m["id"], m["new"]) for m in await _history(app, after=pushed)] == [(pushed, True)]
        await socket.send_json({"type": "seen", "upto": pushed})
        await socket.send_json({"type": "message", "text": "нет, спасибо"})
        await socket.receive_json(timeout=10)  # the seen frame was handled before this
    assert [m["new"] for m in await _history(app, after=last)] == [False, False, False]


async def test_bad_seen_and_history_requests_get_clear_errors(
    start_app: AppFactory, database: Database
):
    app = await start_app(telegram_mode=None)
    for body in ({"session": VISITOR}, {"session": VISITOR, "upto": "9"}, {"upto": 1}, [1]):
        status, answer = await app.post_json("/api/v1/chat/seen", body)
        assert status == 400 and answer["error"], body
    assert (await app.chat_history(VISITOR, "x"))[0] == 400
    assert await _history(app, session="nobody-here-1") == []


async def test_a_survey_for_a_visitor_not_there_counts_as_sent_only_once_shown(
    start_app: AppFactory, faq_loaded: Database
):
    app = await start_app(telegram_mode=None, scheduler={"enabled": False}, clock=lambda: NOW)
    away, present = "visitor-away-1", "visitor-here-1"
    async with create_session_pool(faq_loaded.engine)() as session, session.begin():
        for visitor in (away, present):
            await CustomerRepository(session).get_or_create("webchat", visitor, "", "ru")
        await service.create_survey(session, "nps", "nps", False, "{}")
        await service.create_campaign(session, name="NPS", survey_name="nps", run_at=NOW)
    async with app.chat_socket(present) as socket:
        assert await launch_campaigns(app.services) == 2
        await app.services.campaigns.run_until_idle()
        frame = await socket.receive_json(timeout=10)
        assert _scale(frame["replies"][0]) == [str(n) for n in range(11)]  # pushed live
        await socket.send_json({"type": "seen", "upto": frame["replies"][0]["id"]})
        await socket.send_json({"type": "message", "text": "/hours"})
        await socket.receive_json(timeout=10)  # the seen frame was handled before this

    async def state() -> tuple[dict[str, str], float | None]:
        async with app.services.session_pool() as session:
            rows = (await session.execute(select(Delivery))).scalars().all()
            campaign = (await session.execute(select(Campaign))).scalar_one()
            status = await service.status(session, campaign)
        return {r.recipient: r.status for r in rows}, status.response_rate

    assert await state() == ({present: "sent", away: "held"}, 0.0)
    # The absent visitor comes back: the survey is there, new, with its scale; once shown it
    # is sent, and answered from the restored buttons.
    (survey,) = await _history(app, session=away)
    assert survey["new"] and _scale(survey) == [str(n) for n in range(11)]
    await app.post_json("/api/v1/chat/seen", {"session": away, "upto": survey["id"]})
    assert (await state())[0][away] == "sent"
    nine = next(b for b in survey["buttons"] if b["text"] == "9")
    await app.post_json(
        "/api/v1/chat/buttons", {"session": away, "data": nine["data"], "label": nine["text"]}
    )
    assert await state() == ({present: "sent", away: "answered"}, 0.5)
    assert [m["text"] for m in await _history(app, session=away)][1] == "9"


def _scale(message: dict[str, Any]) -> list[str]:
    return [b["text"] for b in message["buttons"] if b["text"].isdigit()]


@needs_chromium
@pytest.mark.parametrize(
    ("size", "shot"),
    [((1366, 850), "webchat-restored.png"), ((390, 844), "webchat-restored-phone.png")],
)
async def test_the_page_restores_the_conversation_after_a_reload(
    start_app: AppFactory,
    faq_loaded: Database,
    size: tuple[int, int],
    shot: str,
    tmp_path: Path,
):
    """In chromium: a complaint, the page closed, staff reply and resolve; the reopened page
    shows the replies under "Новые сообщения" and the CSAT scale in view."""

    app = await start_app(telegram_mode=None)
    token = await make_token(faq_loaded, "desk", "admin")
    async with chromium() as browser:
        context = await browser.new_context(
            locale="ru-RU", viewport={"width": size[0], "height": size[1]}
        )
        page = await context.new_page()
        await page.goto(app.url + "/chat")
        await page.locator(".msg.bot").first.wait_for()  # the greeting
        for text in ("/complaint", "Чайник пришёл разбитым, заказ 512"):
            await page.fill("#text", text)
            await page.press("#text", "Enter")
            await page.locator(".msg.bot").nth(1 if text == "/complaint" else 2).wait_for()
        await page.close()  # the visitor leaves

        await _staff(app, token, "POST", "/api/v1/tickets/1/reply", {"text": "Заменим чайник"})
        await _staff(app, token, "PATCH", "/api/v1/tickets/1", {"status": "resolved"})
        await _settled(app)

        page = await context.new_page()
        await page.goto(app.url + "/chat")
        await page.locator(".divider").wait_for()
        assert await page.locator(".divider").inner_text() == "Новые сообщения"
        assert "Заменим чайник" in await page.locator(".msg.new").first.inner_text()
        assert await page.locator(".msg.me").count() == 2  # what the visitor said, kept
        scale = page.locator(".msg.new .buttons button")
        assert await scale.count() == 5
        box = await scale.last.bounding_box()
        assert box is not None and box["y"] + box["height"] <= size[1]  # in view
        assert await page.locator("#status").inner_text() == ""  # no "online"
        shots = Path(os.environ.get("OTKLIK_SCREENSHOTS", tmp_path))
        await screenshot(page, str(shots / shot))
        # Shown: a reload now has nothing new.
        await page.wait_for_timeout(300)
        await page.reload()
        await page.locator(".msg.me").nth(1).wait_for()
        assert await page.locator(".divider").count() == 0
        await _press_and_check_csat(page)


async def _press_and_check_csat(page: Any) -> None:
    await page.locator(".buttons button", has_text="5").last.click()
    await page.locator(".msg.bot", has_text="Спасибо").last.wait_for()
