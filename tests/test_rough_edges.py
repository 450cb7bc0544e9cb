"""What a new user met: a complaint on the command line, a long FAQ list, and more."""

from __future__ import annotations

from sqlalchemy import select

from storage.models import Ticket, TicketMessage
from tests.conftest import AppFactory, Database

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
