"""The generic HTTP channel's JSON, in and out (the contract in the README and in
`examples/http_channel_receiver.py`)."""

from __future__ import annotations

import re
from typing import Any

from bot.core.messages import InboundMessage, Reply
from bot.core.untrusted import storable

_ID = re.compile(r"^[A-Za-z0-9_.:@-]{1,128}$")
MAX_BUTTON_DATA = 64


class BadMessage(ValueError):
    """Names the field that is wrong; answered with 400 (422 would do too)."""


def _string(payload: dict[str, Any], key: str, limit: int, *, required: bool = False) -> str:
    value = payload.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise BadMessage(f"'{key}' must be a{' non-empty' if required else ''} string")
    if len(value) > limit:
        raise BadMessage(f"'{key}' is longer than {limit} characters")
    return storable(value)


def message_from(payload: Any, channel: str, max_chars: int) -> tuple[str, InboundMessage]:
    """(idempotency key, message) from a request body."""
    if not isinstance(payload, dict):
        raise BadMessage("expected a JSON object")
    key = payload.get("id")
    if not isinstance(key, str) or not _ID.match(key):
        raise BadMessage("'id' (idempotency key) must be 1-128 of A-Z a-z 0-9 _ . : @ -")
    user = payload.get("user")
    if not isinstance(user, str) or not _ID.match(user):
        raise BadMessage("'user' must be 1-128 of A-Z a-z 0-9 _ . : @ -")
    text = _string(payload, "text", max_chars)
    button = _string(payload, "button", MAX_BUTTON_DATA)
    if bool(text.strip()) == bool(button):
        raise BadMessage("give exactly one of 'text' and 'button'")
    language = _string(payload, "language", 16) or None
    command = None
    if text.startswith("/"):
        command = text[1:].split(maxsplit=1)[0].lower() if text[1:].strip() else None
    return key, InboundMessage(
        channel=channel,
        external_id=user,
        text=text,
        button=button or None,
        command=command,
        display_name=_string(payload, "name", 64),
        language_code=language,
    )


def reply_payload(user: str, reply: Reply) -> dict[str, Any]:
    """What the platform receives: text, an optional title, and buttons in rows; a button
    pressed comes back as {"button": data}."""
    return {
        "user": user,
        "text": reply.text,
        "title": reply.title,
        "buttons": [[{"text": b.text, "data": b.data} for b in row] for row in reply.buttons],
    }
