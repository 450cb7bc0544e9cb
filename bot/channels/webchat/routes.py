"""Web chat: the page, its WebSocket, and the HTTP JSON fallback. Thin on purpose."""

from __future__ import annotations

import logging
from datetime import datetime
from importlib import resources
from typing import Any

from aiohttp import WSMsgType, web
from sqlalchemy.ext.asyncio import AsyncSession

from bot.channels.webchat.hub import WebChatHub
from bot.channels.webchat.payloads import (
    CHANNEL,
    BadPayload,
    button_from_payload,
    button_label,
    client_message_id,
    message_from_payload,
    reply_to_json,
    seen_of,
    session_id_of,
)
from bot.core import untrusted
from bot.core.delivery.outbox import ReplyBuffer
from bot.core.messages import InboundMessage
from bot.web.errors import json_error, json_response
from bot.web.flood import WebChatGuard, retry_after
from bot.web.keys import (
    CONVERSATION,
    METRICS,
    OUTBOX,
    SESSION_POOL,
    SETTINGS,
    WEBCHAT_GUARD,
    WEBCHAT_HUB,
)
from storage.db import DB_ERRORS
from storage.models import ConversationMessage
from storage.repositories.conversation import ConversationLog
from storage.repositories.customers import CustomerRepository
from storage.repositories.events import InboundEventRepository
from storage.repositories.webchat import WebChatTranscript

routes = web.RouteTableDef()
SESSION_HEADER = "X-Otklik-Session"
SESSION_NOT_IN_URL = (
    "the session id is the visitor's credential and is not taken from a URL (URLs end up in "
    f"logs): send it in the {SESSION_HEADER} header, or on the socket in a hello frame"
)
log = logging.getLogger(__name__)
_PAGE = resources.files("bot.web").joinpath("static/chat.html")
_SCRIPT = resources.files("bot.web").joinpath("static/chat.js")


async def _converse(
    app: web.Application,
    message: InboundMessage,
    client_id: str | None = None,
    label: str = "",
) -> dict[str, Any]:
    """One transaction per inbound message; a repeated client id changes nothing. The replies
    are the response; posts for elsewhere (the staff inbox) go through the outbox."""
    outbox = app[OUTBOX]
    metrics = app[METRICS]
    async with app[SESSION_POOL]() as session, session.begin():
        if client_id is not None:
            dedup_key = f"{message.external_id}:{client_id}"
            # Handled in this same transaction: the guard row is stored as done.
            stored = await InboundEventRepository(session).store(
                CHANNEL, dedup_key, "{}", status="done"
            )
            if stored is None:
                metrics.updates_duplicate.labels(CHANNEL).inc()
                return {"replies": [], "duplicate": True}
        metrics.updates_received.labels(CHANNEL).inc()
        outcome = await app[CONVERSATION].handle(session, message)
        queued = await outbox.enqueue(session, ReplyBuffer(list(outcome.posts)))
        # The widget restores itself from the transcript: what the visitor said, and each
        # reply as it was shown (with its id, the widget's cursor).
        transcript = WebChatTranscript(session)
        # "/start" is the widget's own greeting request, never shown as the visitor's words.
        said = "" if message.command == "start" else message.text or label
        if said:
            await transcript.add(message.external_id, "in", {"text": said})
        replies = []
        for reply in outcome.replies:
            body = reply_to_json(reply)
            replies.append({**body, "id": await transcript.add(message.external_id, "out", body)})
    app[METRICS].updates_handled.labels(CHANNEL).inc()
    if queued:
        await outbox.deliver(queued)
    return {"replies": replies}


async def _read_json(request: web.Request) -> Any:
    try:
        return untrusted.loads((await request.read()).decode("utf-8"))
    except untrusted.BadJson as exc:
        raise BadPayload(str(exc)) from None
    except UnicodeDecodeError:
        raise BadPayload("body is not UTF-8") from None


def _too_many(guard: WebChatGuard, request: web.Request) -> web.Response | None:
    """429 with Retry-After once this client has spent its bucket."""
    wait = guard.requests.take(guard.client(request))
    if not wait:
        return None
    response = json_error(429, f"too many requests, retry in {retry_after(wait)} s")
    response.headers["Retry-After"] = retry_after(wait)
    return response


@routes.get("/chat")
async def chat_page(request: web.Request) -> web.Response:
    ancestors = request.app[WEBCHAT_GUARD].origins.frame_ancestors
    return web.Response(
        text=_PAGE.read_text(encoding="utf-8"),
        content_type="text/html",
        headers={
            # The widget's script is a file of its own: no inline script may run on the page.
            "Content-Security-Policy": "default-src 'self'; style-src 'unsafe-inline'; "
            "script-src 'self'; connect-src 'self' ws: wss:; "
            f"frame-ancestors {ancestors}",
            "Referrer-Policy": "same-origin",
        },
    )


@routes.get("/chat.js")
async def chat_script(_request: web.Request) -> web.Response:
    return web.Response(
        text=_SCRIPT.read_text(encoding="utf-8"),
        content_type="text/javascript",
        headers={"Cache-Control": "no-cache"},
    )


def _cross_site(request: web.Request) -> web.Response | None:
    """The chat's POSTs are JSON from an allowed page: a hostile page's form or text/plain
    `fetch` (which needs no CORS preflight) cannot make its visitors open tickets."""
    if request.content_type != "application/json":
        return json_error(415, "send the body as application/json")
    if not request.app[WEBCHAT_GUARD].origins.allows(request):
        return json_error(403, "this site may not use the chat (see [webchat] allowed_origins)")
    return None


@routes.post("/api/v1/chat/messages")
async def post_message(request: web.Request) -> web.Response:
    if refused := _cross_site(request):
        return refused
    if limited := _too_many(request.app[WEBCHAT_GUARD], request):
        return limited
    try:
        payload = await _read_json(request)
        max_chars = request.app[SETTINGS].bot.max_message_chars
        message = message_from_payload(payload, max_chars)
        client_id = client_message_id(payload)
    except BadPayload as exc:
        return json_error(400, str(exc))
    return json_response(await _converse(request.app, message, client_id))


@routes.post("/api/v1/chat/buttons")
async def post_button(request: web.Request) -> web.Response:
    if refused := _cross_site(request):
        return refused
    if limited := _too_many(request.app[WEBCHAT_GUARD], request):
        return limited
    try:
        payload = await _read_json(request)
        message = button_from_payload(payload)
    except BadPayload as exc:
        return json_error(400, str(exc))
    return json_response(await _converse(request.app, message, label=button_label(payload)))


class _Visitor:
    """Whose socket this is: bound by its first frame that names a session (the widget sends
    {"type": "hello", "session"} on open), so pushes for that session reach it; another
    session on the same socket is refused."""

    def __init__(self, hub: WebChatHub, socket: web.WebSocketResponse) -> None:
        self._hub = hub
        self._socket = socket
        self.session: str | None = None

    def claim(self, payload: dict[str, Any]) -> None:
        if "session" not in payload and self.session is not None:
            payload["session"] = self.session
        session = session_id_of(payload)
        if self.session is None:
            self.session = session
            self._hub.add(session, self._socket)
        elif session != self.session:
            raise BadPayload("this socket belongs to another session; open one per session")

    def leave(self) -> None:
        if self.session is not None:
            self._hub.remove(self.session, self._socket)


@routes.get("/chat/ws")
async def chat_socket(request: web.Request) -> web.StreamResponse:
    """Frames: {"type": "hello"}, {"type": "message", "text"}, {"type": "button", "data"} or
    {"type": "seen", "upto"}, the first with "session"; answers {"type": "replies", ...} or
    {"type": "error"}. Everything is checked before the upgrade, so a refusal is a plain HTTP
    answer; a session id in the URL is refused (URLs end up in proxies' logs)."""
    guard = request.app[WEBCHAT_GUARD]
    if "session" in request.query:
        return json_error(400, SESSION_NOT_IN_URL)
    if not guard.origins.allows(request):
        return json_error(403, "this site may not open the chat (see [webchat] allowed_origins)")
    if limited := _too_many(guard, request):
        return limited
    client = guard.client(request)
    if not guard.connections.enter(client):
        response = json_error(503, "too many open chats, retry later")
        response.headers["Retry-After"] = "30"
        return response
    try:
        max_body = request.app[SETTINGS].http.max_body_bytes
        socket = web.WebSocketResponse(heartbeat=30, max_msg_size=max_body)
        await socket.prepare(request)
        max_chars = request.app[SETTINGS].bot.max_message_chars
        visitor = _Visitor(request.app[WEBCHAT_HUB], socket)
        try:
            await _serve_socket(request, socket, visitor, max_chars)
        finally:
            visitor.leave()
        return socket
    finally:
        guard.connections.leave(client)


async def _serve_socket(
    request: web.Request, socket: web.WebSocketResponse, visitor: _Visitor, max_chars: int
) -> None:
    guard = request.app[WEBCHAT_GUARD]
    client = guard.client(request)
    async for frame in socket:
        if frame.type != WSMsgType.TEXT:
            continue
        wait = guard.requests.take(client)
        if wait:
            await socket.send_json(
                {
                    "type": "error",
                    "error": f"too many messages, retry in {retry_after(wait)} s",
                    "retry_after": int(retry_after(wait)),
                }
            )
            continue
        try:
            payload = untrusted.loads(frame.data)
            if not isinstance(payload, dict):
                raise BadPayload("expected a JSON object")
            visitor.claim(payload)
            label = ""
            if payload.get("type") == "hello":
                await socket.send_json({"type": "ready"})  # pushes for the session come here now
                continue
            if payload.get("type") == "seen":
                await _seen(request.app, seen_of(payload))
                continue
            if payload.get("type") == "button":
                message = button_from_payload(payload)
                client_id = None
                label = button_label(payload)
            elif payload.get("type") == "message":
                message = message_from_payload(payload, max_chars)
                client_id = client_message_id(payload)
            else:
                raise BadPayload("'type' must be 'hello', 'message', 'button' or 'seen'")
        except (ValueError, BadPayload) as exc:
            await socket.send_json({"type": "error", "error": str(exc)})
            continue
        try:
            result = await _converse(request.app, message, client_id, label)
        except DB_ERRORS:
            await socket.send_json({"type": "error", "error": "database unavailable, retry"})
            continue
        except Exception as exc:
            # A bug, not the client's fault: said once in the log, and the socket stays open
            # (raising here would write an HTTP 500 into the upgraded connection).
            log.error("web chat frame failed: %s", untrusted.failure_reason(exc), exc_info=exc)
            await socket.send_json({"type": "error", "error": "internal error, retry"})
            continue
        await socket.send_json({"type": "replies", **result})


@routes.get("/api/v1/chat/history")
async def history(request: web.Request) -> web.Response:
    """The session comes in the X-Otklik-Session header, never in the URL.

    What the visitor's widget shows, after `after` (a line id; 0 for the latest 100), plus
    every line not yet shown: a reload or a return restores the conversation, and what came
    while the page was closed (staff replies, surveys) is marked `new`. Buttons come with the
    lines after the visitor's last message, the ones still waiting for an answer."""
    if limited := _too_many(request.app[WEBCHAT_GUARD], request):
        return limited
    if "session" in request.query:
        return json_error(400, SESSION_NOT_IN_URL)
    try:
        session_id = session_id_of({"session": request.headers.get(SESSION_HEADER)})
    except BadPayload as exc:
        return json_error(400, f"{exc} (in the {SESSION_HEADER} header)")
    after_text = request.query.get("after", "0")
    after = 0 if after_text == "0" else untrusted.parse_id(after_text, untrusted.INT64_MAX)
    if after is None:
        return json_error(400, "'after' must be a message id (digits 0-9)")
    async with request.app[SESSION_POOL]() as session:
        lines = await WebChatTranscript(session).lines(session_id, after)
        elsewhere = [] if after else await _other_channels(session, session_id)
    last_in = max((i for i, line in enumerate(lines) if line.direction == "in"), default=-1)
    messages: list[tuple[datetime, dict[str, Any]]] = []
    for position, line in enumerate(lines):
        live = line.direction == "out" and position > last_in
        body = {
            "id": line.id,
            "direction": line.direction,
            "text": line.body.get("text", ""),
            "title": line.body.get("title"),
            "buttons": line.body.get("buttons", []) if live else [],
            "new": not line.shown,
            "channel": CHANNEL,
        }
        messages.append((line.created_at, body))
    for message in elsewhere:
        body = {
            "id": None,  # not the widget's: no cursor, no buttons
            "direction": message.direction,
            "text": message.text,
            "title": None,
            "buttons": [],
            "new": False,
            "channel": message.channel,
        }
        messages.append((message.created_at, body))
    messages.sort(key=lambda pair: pair[0])
    return json_response({"messages": [body for _, body in messages]})


async def _other_channels(session: AsyncSession, visitor: str) -> list[ConversationMessage]:
    """The customer's messages in their other channels (one customer, one history: someone
    who linked Telegram sees that conversation here too)."""
    customer = await CustomerRepository(session).by_identity(CHANNEL, visitor)
    if customer is None:
        return []
    return [m for m in await ConversationLog(session).history(customer.id) if m.channel != CHANNEL]


@routes.post("/api/v1/chat/seen")
async def seen(request: web.Request) -> web.Response:
    """{"session", "upto": line id}: the widget has shown every line up to `upto`. Only now is
    a message that waited for the visitor delivered (a survey counts as sent)."""
    if refused := _cross_site(request):
        return refused
    if limited := _too_many(request.app[WEBCHAT_GUARD], request):
        return limited
    try:
        seen_by = seen_of(await _read_json(request))
    except BadPayload as exc:
        return json_error(400, str(exc))
    return json_response({"shown": await _seen(request.app, seen_by)})


async def _seen(app: web.Application, seen_by: tuple[str, int]) -> int:
    async with app[SESSION_POOL]() as session, session.begin():
        return await WebChatTranscript(session).mark_shown(*seen_by)
