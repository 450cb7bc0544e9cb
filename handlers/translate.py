"""aiogram's objects as the conversation core's `InboundMessage`: what the routers in this
package hand to the core. The channel package imports it; nothing here imports a channel."""

from __future__ import annotations

from aiogram.types import CallbackQuery, Message, User

from bot.core.messages import Attachment, InboundMessage

CHANNEL = "telegram"


def _display_name(user: User | None) -> str:
    if user is None:
        return ""
    return " ".join(part for part in (user.first_name, user.last_name) if part)


def inbound_from_message(message: Message, *, edited: bool = False) -> InboundMessage:
    text = message.text or message.caption or ""
    command: str | None = None
    if text.startswith("/"):
        # "/start@OtklikBot payload" -> "start"
        words = text[1:].split(maxsplit=1)
        # A bare "/" (or "/ ") has no command: it is treated as text.
        command = words[0].split("@")[0].lower() or None if words else None
    user = message.from_user
    return InboundMessage(
        channel=CHANNEL,
        external_id=str(message.chat.id),
        text=text,
        display_name=_display_name(user),
        language_code=user.language_code if user else None,
        command=command,
        attachment=attachment_of(message),
        edited=edited,
    )


def attachment_of(message: Message) -> Attachment | None:
    if message.photo:
        return Attachment("photo", message.photo[-1].file_id)  # the largest size
    if message.document:
        return Attachment("document", message.document.file_id)
    return None


def display_name(user: User | None) -> str:
    return _display_name(user)


def inbound_from_callback(query: CallbackQuery) -> InboundMessage | None:
    if query.message is None or query.data is None:
        return None
    return InboundMessage(
        channel=CHANNEL,
        external_id=str(query.message.chat.id),
        button=query.data,
        display_name=_display_name(query.from_user),
        language_code=query.from_user.language_code,
    )
