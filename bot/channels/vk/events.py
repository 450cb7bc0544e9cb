"""Callback API events as the core's InboundMessage (message_new, message_event)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bot.core.messages import InboundMessage

CHANNEL = "vk"
_LANGUAGES = {0: "ru", 3: "en", 1: "uk", 114: "be"}  # VK's lang_id
_PEER_CHATS = 2_000_000_000  # peer ids above this are group chats, not a user's messages


@dataclass(frozen=True)
class VkEvent:
    message: InboundMessage
    # For a callback button: what messages.sendMessageEventAnswer needs to stop the spinner.
    answer: dict[str, str] | None = None


def _payload(payload: Any) -> Any:
    if isinstance(payload, str):
        try:
            return json.loads(payload)
        except ValueError:
            return None
    return payload


def _button_data(payload: Any) -> str | None:
    payload = _payload(payload)
    if isinstance(payload, dict) and isinstance(payload.get("d"), str):
        data: str = payload["d"][:64]
        return data
    return None


def _is_start(payload: Any) -> bool:
    """VK's own Start button, pressed by a new customer: {"command": "start"}."""
    payload = _payload(payload)
    return isinstance(payload, dict) and payload.get("command") == "start"


def _attachments(message: dict[str, Any]) -> list[str]:
    """Photos and documents stay on VK's servers; staff get a line with a link to each, as
    WhatsApp media reach them ("[photo] https://…"). The complaint prompt invites a photo."""
    lines = []
    for item in message.get("attachments") or []:
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        body = item.get(kind) if isinstance(kind, str) else None
        if not isinstance(body, dict):
            continue
        url = ""
        if kind == "photo":
            sizes = [s for s in body.get("sizes") or [] if isinstance(s, dict)]
            biggest = max(sizes, key=lambda s: int(s.get("width") or 0), default={})
            url = str(biggest.get("url") or "")
        elif kind == "doc":
            url = str(body.get("url") or "")
        if kind in ("photo", "doc"):
            lines.append(f"[{kind}] {url}".strip()[:1000])
    return lines


def _user(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < _PEER_CHATS:
        return str(value)
    return None


def parse(event: dict[str, Any]) -> VkEvent | None:
    """None for what is not a user's message or button (group chats, malformed objects)."""
    obj = event.get("object")
    if not isinstance(obj, dict):
        return None
    if event.get("type") == "message_new":
        message = obj.get("message")
        if not isinstance(message, dict):
            return None
        user = _user(message.get("peer_id"))
        text = message.get("text")
        if user is None or not isinstance(text, str):
            return None
        text = "\n".join(part for part in (text, *_attachments(message)) if part)
        client = obj.get("client_info")
        lang_id = client.get("lang_id") if isinstance(client, dict) else None
        button = _button_data(message.get("payload"))
        command = None
        if button is None and _is_start(message.get("payload")):
            command, text = "start", "/start"  # the greeting and menu, not a question
        elif button is None and text.startswith("/") and text[1:].strip():
            command = text[1:].split(maxsplit=1)[0].lower()
        return VkEvent(
            InboundMessage(
                channel=CHANNEL,
                external_id=user,
                text="" if button else text,
                button=button,
                command=command,
                language_code=_LANGUAGES.get(lang_id) if isinstance(lang_id, int) else None,
            )
        )
    if event.get("type") == "message_event":
        user = _user(obj.get("user_id"))
        button = _button_data(obj.get("payload"))
        event_id = obj.get("event_id")
        if user is None or button is None or not isinstance(event_id, str):
            return None
        answer = {"event_id": event_id[:64], "user_id": user, "peer_id": user}
        return VkEvent(InboundMessage(channel=CHANNEL, external_id=user, button=button), answer)
    return None


def stray_press(event: dict[str, Any]) -> dict[str, str] | None:
    """A callback button's press whose payload is not ours (an old keyboard, another bot's):
    nothing to handle, but its spinner must still be stopped."""
    obj = event.get("object")
    if event.get("type") != "message_event" or not isinstance(obj, dict):
        return None
    user, event_id = _user(obj.get("user_id")), obj.get("event_id")
    if user is None or not isinstance(event_id, str) or not event_id:
        return None
    return {"event_id": event_id[:64], "user_id": user, "peer_id": user}
