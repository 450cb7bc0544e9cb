"""The web chat's JSON: payloads in, `InboundMessage` out; `Reply` in, JSON out."""

from __future__ import annotations

import re
from typing import Any

from bot.core.messages import InboundMessage, Reply

CHANNEL = "webchat"
_SESSION = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
_MAX_BUTTON_DATA = 64
_MAX_LABEL = 200


class BadPayload(ValueError):
    """The client sent something we can name precisely; answered with 400."""


def session_id_of(payload: dict[str, Any]) -> str:
    session = payload.get("session")
    if not isinstance(session, str) or not _SESSION.match(session):
        raise BadPayload("'session' must be 8-64 characters of letters, digits, '-' or '_'")
    return session


def _language(payload: dict[str, Any]) -> str | None:
    value = payload.get("language")
    return value[:16] if isinstance(value, str) and value else None


def message_from_payload(payload: Any, max_chars: int) -> InboundMessage:
    if not isinstance(payload, dict):
        raise BadPayload("expected a JSON object")
    session = session_id_of(payload)
    text = payload.get("text")
    if not isinstance(text, str) or not text.strip():
        raise BadPayload("'text' must be a non-empty string")
    if len(text) > max_chars:
        raise BadPayload(f"'text' is longer than {max_chars} characters")
    command = None
    if text.startswith("/"):
        command = text[1:].split(maxsplit=1)[0].lower() or None
    name = payload.get("name")
    return InboundMessage(
        channel=CHANNEL,
        external_id=session,
        text=text,
        command=command,
        display_name=name[:64] if isinstance(name, str) else "",
        language_code=_language(payload),
    )


def button_from_payload(payload: Any) -> InboundMessage:
    if not isinstance(payload, dict):
        raise BadPayload("expected a JSON object")
    session = session_id_of(payload)
    data = payload.get("data")
    if not isinstance(data, str) or not data or len(data.encode()) > _MAX_BUTTON_DATA:
        raise BadPayload(f"'data' must be a non-empty string of at most {_MAX_BUTTON_DATA} bytes")
    return InboundMessage(
        channel=CHANNEL, external_id=session, button=data, language_code=_language(payload)
    )


def button_label(payload: dict[str, Any]) -> str:
    """The pressed button's text, as the widget showed it in the visitor's bubble (optional:
    for the transcript only, never acted on)."""
    label = payload.get("label")
    return label[:_MAX_LABEL].strip() if isinstance(label, str) else ""


def seen_of(payload: Any) -> tuple[str, int]:
    """{"session", "upto"}: the page has shown every line up to id `upto`."""
    if not isinstance(payload, dict):
        raise BadPayload("expected a JSON object")
    session = session_id_of(payload)
    upto = payload.get("upto")
    if not isinstance(upto, int) or isinstance(upto, bool) or not 0 < upto < 2**63:
        raise BadPayload("'upto' must be a line id (a positive integer)")
    return session, upto


def client_message_id(payload: dict[str, Any]) -> str | None:
    """Optional client-chosen id that makes a resent message a no-op."""
    value = payload.get("id")
    if value is None:
        return None
    if not isinstance(value, str | int) or len(str(value)) > 64:
        raise BadPayload("'id' must be a string or number of at most 64 characters")
    return str(value)


def reply_to_json(reply: Reply) -> dict[str, Any]:
    """The documented shape: flat `buttons`; `row` and `title` are additions for layout."""
    return {
        "text": reply.text,
        "title": reply.title,
        "buttons": [
            {"text": b.text, "data": b.data, "row": number}
            for number, row in enumerate(reply.buttons)
            for b in row
        ],
    }
