"""The webhook: Meta's verification (GET), and signed POSTs carrying messages and statuses.

Every POST must carry `X-Hub-Signature-256: sha256=<HMAC-SHA256 of the raw body with the app
secret>`; anything else is 401 with nothing stored. Messages are deduplicated by their wamid;
statuses (sent, delivered, read, failed) are written on the outbox row of the message."""

from __future__ import annotations

import hashlib
import hmac
import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from aiohttp import web
from sqlalchemy import or_, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.channels.base import CoreServices
from bot.channels.whatsapp import contacts
from bot.core import untrusted
from bot.core.delivery.inbound_queue import MessageSource
from bot.core.messages import InboundMessage
from storage.models import OutboxMessage

if TYPE_CHECKING:
    from bot.channels.whatsapp.channel import WhatsAppChannel

log = logging.getLogger(__name__)
CHANNEL = "whatsapp"
SIGNATURE_HEADER = "X-Hub-Signature-256"
STATUSES = ("sent", "delivered", "read", "failed")
REWRITE_AFTER = timedelta(minutes=5)


def _text(status: int, text: str) -> web.Response:
    return web.Response(status=status, text=text, content_type="text/plain")


async def verify(channel: WhatsAppChannel, request: web.Request) -> web.Response:
    query = request.query
    token = query.get("hub.verify_token", "").encode("utf-8", "surrogateescape")
    expected = channel.config.verify_token.encode()
    if query.get("hub.mode") == "subscribe" and hmac.compare_digest(token, expected):
        return _text(200, query.get("hub.challenge", "")[:256])
    return _text(403, "verification failed")


def _signed(secret: str, body: bytes, given: str) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "surrogateescape"))


def _values(payload: Any) -> list[dict[str, Any]]:
    if not isinstance(payload, dict) or payload.get("object") != "whatsapp_business_account":
        return []
    found = []
    for entry in payload.get("entry") or []:
        for change in (entry.get("changes") or []) if isinstance(entry, dict) else []:
            value = change.get("value") if isinstance(change, dict) else None
            if isinstance(value, dict) and change.get("field") == "messages":
                found.append(value)
    return found


def _message(raw: Any, names: dict[str, str]) -> InboundMessage | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("from"), str):
        return None
    user = raw["from"][:32]
    kind = raw.get("type")
    text, button = "", None
    if kind == "text" and isinstance(raw.get("text"), dict):
        text = str(raw["text"].get("body", ""))
    elif kind == "interactive" and isinstance(raw.get("interactive"), dict):
        interactive = raw["interactive"]
        reply = interactive.get("button_reply") or interactive.get("list_reply")
        if isinstance(reply, dict) and isinstance(reply.get("id"), str):
            button = reply["id"][:64]
    elif kind == "button" and isinstance(raw.get("button"), dict):  # a template's quick reply
        # Its payload says what it means; the visible text is only a translation of that.
        payload = raw["button"].get("payload")
        if isinstance(payload, str) and payload:
            button = payload[:64]
        else:
            text = str(raw["button"].get("text", ""))
    elif kind in ("image", "document", "video", "audio") and isinstance(raw.get(kind), dict):
        # Media stay on WhatsApp's servers; the caption (or a note) reaches the conversation.
        caption = raw[kind].get("caption") or raw[kind].get("filename") or ""
        text = f"[{kind}] {caption}".strip()
    if not text and button is None:
        return None
    command = None
    if button is None and text.startswith("/") and text[1:].strip():
        command = text[1:].split(maxsplit=1)[0].lower()
    return InboundMessage(
        channel=CHANNEL,
        external_id=user,
        text=text[:4096],
        button=button,
        command=command,
        display_name=names.get(user, "")[:64],
    )


async def receive(
    channel: WhatsAppChannel, core: CoreServices, request: web.Request
) -> web.Response:
    body = await request.read()
    if not _signed(channel.config.app_secret, body, request.headers.get(SIGNATURE_HEADER, "")):
        return _text(401, "wrong or missing X-Hub-Signature-256")
    try:
        payload = untrusted.loads(body.decode("utf-8"))
    except (untrusted.BadJson, UnicodeDecodeError):
        return _text(400, "body is not valid JSON")
    for value in _values(payload):
        # Meta posts every number of an app to one URL: only ours is answered from here.
        metadata = value.get("metadata")
        number = metadata.get("phone_number_id") if isinstance(metadata, dict) else None
        if str(number) != str(channel.config.phone_number_id):
            continue
        await _statuses(core, value.get("statuses"))
        names = {
            str(c.get("wa_id")): str((c.get("profile") or {}).get("name", ""))
            for c in value.get("contacts") or []
            if isinstance(c, dict)
        }
        for raw in value.get("messages") or []:
            wamid = raw.get("id") if isinstance(raw, dict) else None
            if isinstance(wamid, str) and wamid and isinstance(raw.get("from"), str):
                payload = {"raw": raw, "name": names.get(raw["from"], "")}
                await core.inbound.accept(CHANNEL, wamid[:128], payload)
    return _text(200, "ok")


def source(channel: WhatsAppChannel, core: CoreServices) -> MessageSource:
    async def prepare(session: AsyncSession, payload: dict[str, Any]) -> InboundMessage | None:
        raw, name = payload.get("raw"), str(payload.get("name", ""))
        if not isinstance(raw, dict) or not isinstance(raw.get("from"), str):
            return None
        user = raw["from"][:32]
        now = core.conversation.now()
        # The window opens. `recent` holds when this process last wrote that to SQL: within
        # REWRITE_AFTER the write is skipped, so SQL may say up to that much earlier than the
        # truth (a template where free text was allowed, never the other way round).
        known = channel.recent.get(user)
        if known is None or not timedelta(0) <= now - known < REWRITE_AFTER:
            await contacts.wrote(session, user, now)
            channel.recent.wrote(user, now)
        return _message(raw, {user: name})

    def chat_of(payload: dict[str, Any]) -> str | None:
        """The sender's number: their messages are handled in order."""
        raw = payload.get("raw")
        sender = raw.get("from") if isinstance(raw, dict) else None
        return sender[:32] if isinstance(sender, str) else None

    def text_of(payload: dict[str, Any]) -> str | None:
        message = _message(payload.get("raw"), {})
        return None if message is None else message.text

    return MessageSource(
        CHANNEL, CHANNEL, prepare, core.conversation, chat_of=chat_of, text_of=text_of
    )


# Meta posts statuses in no set order: a status only moves forward (sent < delivered < read);
# failed is final unless a later delivered or read proves the message arrived.
_MOVES_FROM: dict[str, tuple[str, ...]] = {
    "sent": (),
    "delivered": ("sent", "failed"),
    "read": ("sent", "delivered", "failed"),
    "failed": ("sent",),
}


async def _statuses(core: CoreServices, statuses: Any) -> None:
    if not isinstance(statuses, list):
        return
    async with core.session_pool() as session, session.begin():
        for status in statuses:
            if not isinstance(status, dict) or status.get("status") not in STATUSES:
                continue
            wamid = status.get("id")
            if not isinstance(wamid, str):
                continue
            errors = status.get("errors")
            error = None
            if isinstance(errors, list) and errors and isinstance(errors[0], dict):
                error = f"WhatsApp {errors[0].get('code')}: {errors[0].get('title', '')}"[:500]
            new = status["status"]
            values: dict[str, Any] = {"delivery_status": new}
            if error is not None:
                values["error"] = error
            elif new in ("delivered", "read"):
                values["error"] = None  # delivered after all: an earlier failure is void
            current = OutboxMessage.delivery_status
            await session.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.external_id == wamid[:128],
                    or_(current.is_(None), current.in_(_MOVES_FROM[new])),
                )
                .values(**values)
            )
