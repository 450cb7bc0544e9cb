"""Web chat over the HTTP JSON API and over the WebSocket, against the real app."""

from __future__ import annotations

from sqlalchemy import func, select

from storage.models import ChannelIdentity, ConversationMessage, Ticket, TicketMessage
from tests.conftest import AppFactory, Database

SESSION = "web-session-0001"


async def test_http_question_answer_and_buttons(start_app: AppFactory, faq_loaded: Database):
    app = await start_app(telegram_mode=None)
    status, body = await app.post_json(
        "/api/v1/chat/messages", {"session": SESSION, "text": "How much is shipping to Kazan?"}
    )
    assert status == 200
    (reply,) = body["replies"]
    assert reply["title"] == "How much does delivery cost?"
    assert "300 ₽" in reply["text"]
    assert [b["text"] for b in reply["buttons"]] == ["👍 Yes", "👎 No"]
    status, body = await app.post_json(
        "/api/v1/chat/buttons", {"session": SESSION, "data": reply["buttons"][0]["data"]}
    )
    assert status == 200
    assert body["replies"][0]["text"] == "Thanks for the feedback!"


async def test_weak_match_offers_questions_and_a_person(
    start_app: AppFactory, faq_loaded: Database
):
    app = await start_app(telegram_mode=None)
    _, body = await app.post_json("/api/v1/chat/messages", {"session": SESSION, "text": "delivery"})
    (reply,) = body["replies"]
    assert reply["text"].startswith("I am not sure I understood")
    datas = [b["data"] for b in reply["buttons"]]
    assert 2 <= len(datas) <= 4
    assert all(d.startswith("faq:") for d in datas[:-1])
    assert datas[-1].startswith("handoff:")
    # Pressing "pass it to a person" stores the original question for the human inbox.
    _, body = await app.post_json("/api/v1/chat/buttons", {"session": SESSION, "data": datas[-1]})
    assert body["replies"][0]["text"].startswith("Ticket #1 is open: “delivery”")
    async with faq_loaded.engine.connect() as conn:
        stored = (await conn.execute(select(TicketMessage.text))).scalar_one()
        subject = (await conn.execute(select(Ticket.subject))).scalar_one()
    assert stored == subject == "delivery"


async def test_no_match_offers_to_leave_a_message(start_app: AppFactory, faq_loaded: Database):
    app = await start_app(telegram_mode=None)
    _, body = await app.post_json(
        "/api/v1/chat/messages", {"session": SESSION, "text": "посоветуйте фильм на вечер"}
    )
    (reply,) = body["replies"]
    assert reply["text"].startswith("Я не нашёл ответа")
    assert reply["buttons"][0]["data"].startswith("handoff:")


async def test_handoff_of_someone_elses_message_is_refused(
    start_app: AppFactory, faq_loaded: Database
):
    app = await start_app(telegram_mode=None)
    _, body = await app.post_json(
        "/api/v1/chat/messages", {"session": SESSION, "text": "посоветуйте фильм"}
    )
    handoff = body["replies"][0]["buttons"][0]["data"]
    _, body = await app.post_json(
        "/api/v1/chat/buttons", {"session": "another-session-1", "data": handoff}
    )
    assert body["replies"][0]["text"].startswith("Эта кнопка больше не работает")
    async with faq_loaded.engine.connect() as conn:
        count = (await conn.execute(select(func.count(Ticket.id)))).scalar_one()
    assert count == 0


async def test_client_message_id_makes_resend_a_no_op(start_app: AppFactory, faq_loaded: Database):
    app = await start_app(telegram_mode=None)
    payload = {"session": SESSION, "text": "как вернуть товар", "id": "m-1"}
    _, first = await app.post_json("/api/v1/chat/messages", payload)
    _, second = await app.post_json("/api/v1/chat/messages", payload)
    assert len(first["replies"]) == 1
    assert second == {"replies": [], "duplicate": True}
    async with faq_loaded.engine.connect() as conn:
        count = (await conn.execute(select(func.count(ConversationMessage.id)))).scalar_one()
    assert count == 2


async def test_bad_requests_get_clear_errors(start_app: AppFactory, database: Database):
    app = await start_app(telegram_mode=None, http={"max_body_bytes": 65536})
    url = app.url + "/api/v1/chat/messages"
    json_type = {"Content-Type": "application/json"}
    async with app.http.post(url, data=b"{oops", headers=json_type) as resp:
        assert resp.status == 400
        assert (await resp.json()) == {"error": "body is not valid JSON"}
    # A hostile page can POST text/plain (or a form) across sites without a preflight: the
    # chat takes JSON only, and from its own or a listed site.
    body = b'{"session": "visitor-xsite-1", "text": "open a ticket"}'
    async with app.http.post(url, data=body, headers={"Content-Type": "text/plain"}) as resp:
        assert resp.status == 415
    evil = {**json_type, "Origin": "https://evil.example"}
    async with app.http.post(url, data=body, headers=evil) as resp:
        assert resp.status == 403
    async with app.http.post(url, data=body, headers={**json_type, "Origin": app.url}) as resp:
        assert resp.status == 200
    for payload, field in [
        ({"text": "hi"}, "session"),
        ({"session": "short", "text": "hi"}, "session"),
        ({"session": SESSION}, "text"),
        ({"session": SESSION, "text": "   "}, "text"),
        ({"session": SESSION, "text": 5}, "text"),
        ({"session": SESSION, "text": "x" * 20_000}, "text"),
    ]:
        status, body = await app.post_json("/api/v1/chat/messages", payload)
        assert status == 400, payload
        assert field in body["error"]
    status, body = await app.post_json(
        "/api/v1/chat/buttons", {"session": SESSION, "data": "x" * 65}
    )
    assert status == 400 and "data" in body["error"]
    async with app.http.post(url, data=b"x" * 70_000, headers=json_type) as resp:
        assert resp.status == 413
        assert "65536" in (await resp.json())["error"]
    async with app.http.get(app.url + "/api/v1/nothing-here") as resp:
        assert resp.status == 404
        assert "error" in await resp.json()


async def test_html_in_page_is_never_interpreted(start_app: AppFactory, database: Database):
    app = await start_app(telegram_mode=None)
    async with app.http.get(app.url + "/chat") as resp:
        assert resp.status == 200
        page = await resp.text()
    assert "innerHTML" not in page  # replies are inserted as text nodes only
    assert "http://" not in page and "https://" not in page  # no external CDN
    status, body = await app.post_json(
        "/api/v1/chat/messages",
        {"session": SESSION, "text": "/start", "name": "<img src=x onerror=alert(1)>"},
    )
    assert status == 200
    assert "<img src=x onerror=alert(1)>" in body["replies"][0]["text"]  # JSON keeps raw text


async def test_websocket_conversation(start_app: AppFactory, faq_loaded: Database):
    app = await start_app(telegram_mode=None)
    async with app.chat_socket(SESSION) as socket:
        await socket.send_json({"type": "message", "text": "/start", "language": "en-US"})
        frame = await socket.receive_json(timeout=5)
        assert frame["type"] == "replies"
        assert frame["replies"][0]["text"].startswith("Hello!")
        await socket.send_json({"type": "button", "data": "hours"})
        frame = await socket.receive_json(timeout=5)
        assert "We are open now" in frame["replies"][0]["text"]
        await socket.send_str("not json")
        frame = await socket.receive_json(timeout=5)
        assert frame["type"] == "error"
        await socket.send_json({"type": "dance"})
        frame = await socket.receive_json(timeout=5)
        assert frame == {
            "type": "error",
            "error": "'type' must be 'hello', 'message', 'button' or 'seen'",
        }
        # The socket is the hello's session's: another session's frame is refused on it.
        await socket.send_json({"type": "message", "text": "hi", "session": "someone-else-01"})
        frame = await socket.receive_json(timeout=5)
        assert frame["type"] == "error" and "another session" in frame["error"]
        await socket.send_json({"type": "message", "text": "как вернуть товар"})
        frame = await socket.receive_json(timeout=5)
        assert "14 дней" in frame["replies"][0]["text"]
    async with faq_loaded.engine.connect() as conn:
        identity = (await conn.execute(select(ChannelIdentity.channel))).scalar_one()
    assert identity == "webchat"


async def test_menu_shows_only_what_works(start_app: AppFactory, database: Database):
    app = await start_app(telegram_mode=None)
    _, body = await app.post_json("/api/v1/chat/messages", {"session": SESSION, "text": "/start"})
    datas = [b["data"] for b in body["replies"][0]["buttons"]]
    assert datas == ["hours", "handoff", "complaint", "link"]  # no FAQ entries yet: no FAQ button
