"""Telegram sender: `Reply` in, Bot API calls out (aiogram objects become `InboundMessage`s in
`handlers.translate`)."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import html
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import Bot
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramRetryAfter,
)
from aiogram.types import (
    BufferedInputFile,
    InlineKeyboardMarkup,
    Message,
)

from bot.core.delivery.outbox import SendResult, SendStatus
from bot.core.delivery.rate_limit import RateLimiter
from bot.core.messages import Attachment, Reply, split_text
from handlers.translate import CHANNEL as CHANNEL  # the channel's name, where outbox rows use it

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
MAX_RETRIES = 3

log = logging.getLogger(__name__)


def customer_chat_of(update: dict[str, Any]) -> str | None:
    """The private chat a raw update comes from (the customer's `external_id`), read before
    aiogram parses it, so the inbox can load a batch's customers at once."""
    message = update.get("message") or update.get("edited_message")
    if message is None:
        query = update.get("callback_query")
        message = query.get("message") if isinstance(query, dict) else None
    chat = message.get("chat") if isinstance(message, dict) else None
    if isinstance(chat, dict) and chat.get("type") == "private" and "id" in chat:
        return str(chat["id"])
    return None


Keyboard = list[list[dict[str, str]]]


def render_plain(reply: Reply) -> list[tuple[str, Keyboard | None]]:
    """Escape customer-controlled text for HTML mode and split it under Telegram's limit; the
    keyboard, on the last part, as the Bot API's JSON shape."""
    parts = split_text(reply.text, TEXT_LIMIT - (len(reply.title) + 1 if reply.title else 0))
    rendered = [html.escape(part, quote=False) for part in parts]
    if reply.title:
        rendered[0] = f"<b>{html.escape(reply.title, quote=False)}</b>\n{rendered[0]}"
    keyboard: Keyboard | None = None
    if reply.buttons:
        keyboard = [
            [{"text": b.text, "callback_data": b.data} for b in row] for row in reply.buttons
        ]
    last = len(rendered) - 1
    return [(text, keyboard if i == last else None) for i, text in enumerate(rendered)]


def render(reply: Reply) -> list[tuple[str, InlineKeyboardMarkup | None]]:
    """`render_plain` with the keyboard as aiogram's model."""
    return [
        (text, None if rows is None else InlineKeyboardMarkup(inline_keyboard=rows))  # type: ignore[arg-type]
        for text, rows in render_plain(reply)
    ]


class TelegramSender:
    """Sends one reply (split as needed). A 429 pauses every later call of this bot until
    `retry_after` has passed, then retries; a 403 means the customer blocked the bot."""

    def __init__(self, bot: Bot, limiter: RateLimiter | None = None) -> None:
        self._bot = bot
        self._limiter = limiter  # shared with bulk sending: a 429 pauses campaigns too
        self._not_before = 0.0

    def pause(self, retry_after: float) -> None:
        """Telegram answered 429: no call of this bot, reply or campaign, before `retry_after`."""
        self._not_before = max(self._not_before, time.monotonic() + retry_after)
        if self._limiter is not None:
            self._limiter.pause(retry_after)
        log.warning("telegram 429: pausing sends for %ss", retry_after)

    async def wait_turn(self, paced: bool = True, campaign_chat: str | None = None) -> None:
        """Wait out a 429 pause, then take a turn from the bot's limiter: a reply's, or with
        `campaign_chat` a campaign send's (its retry after a 429: the first try's turn was
        taken by the campaign sender). `paced=False`: that first try."""
        delay = self._not_before - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        if not paced or self._limiter is None:
            return
        if campaign_chat is not None:
            await self._limiter.acquire(campaign_chat)
        else:
            await self._limiter.acquire_reply()

    async def send(
        self,
        recipient: str,
        reply: Reply,
        *,
        thread_id: int | None = None,
        sent_ids: list[int] | None = None,
        key: str | None = None,
    ) -> SendResult:
        """Send a reply (its attachment first, captioned); `sent_ids` collects message ids."""
        if reply.image is not None:
            caption = html.escape(reply.text[:CAPTION_LIMIT], quote=False) or None
            photo = functools.partial(
                self._bot.send_photo,
                int(recipient),
                BufferedInputFile(reply.image, "chart.png"),
                caption=caption,
                parse_mode="HTML",
                message_thread_id=thread_id,
            )
            return await self._call(photo, recipient, sent_ids)
        parts: list[tuple[str, InlineKeyboardMarkup | None]] = render(reply) if reply.text else []
        if reply.edit_message_id is not None and len(parts) == 1 and reply.attachment is None:
            text, markup = parts[0]
            edit = functools.partial(
                self._bot.edit_message_text,
                text=text,
                chat_id=int(recipient),
                message_id=reply.edit_message_id,
                parse_mode="HTML",
                reply_markup=markup,
            )
            result = await self._call(edit, recipient, sent_ids)
            if result.status is not SendStatus.FAILED or reply.edit_only:
                return result
            if "not modified" in result.error:
                return SendResult(SendStatus.SENT)  # a repeated edit: it already shows this
            # Too old to edit, deleted, not found: the customer must still see it.
            log.info("edit failed (%s): sent as a new message", result.error)
            reply = dataclasses.replace(reply, edit_message_id=None)
        if reply.attachment is not None:
            caption, markup = (
                parts.pop(0) if parts and len(parts[0][0]) <= CAPTION_LIMIT else ("", None)
            )
            call = self._attachment_call(recipient, reply.attachment, caption, markup, thread_id)
            result = await self._call(call, recipient, sent_ids)
            if result.status is not SendStatus.SENT:
                return result
        for text, markup in parts:
            call = functools.partial(
                self._bot.send_message,
                int(recipient),
                text,
                parse_mode="HTML",
                reply_markup=markup,
                message_thread_id=thread_id,
            )
            result = await self._call(call, recipient, sent_ids)
            if result.status is not SendStatus.SENT:
                return result
        return SendResult(SendStatus.SENT)

    def _attachment_call(
        self,
        recipient: str,
        attachment: Attachment,
        caption: str,
        markup: InlineKeyboardMarkup | None,
        thread_id: int | None,
    ) -> Callable[[], Awaitable[Message]]:
        method = self._bot.send_photo if attachment.kind == "photo" else self._bot.send_document
        return functools.partial(
            method,
            int(recipient),
            attachment.file_id,
            caption=caption or None,
            parse_mode="HTML",
            reply_markup=markup,
            message_thread_id=thread_id,
        )

    async def _call(
        self,
        call: Callable[[], Awaitable[Message | bool]],
        recipient: str,
        sent_ids: list[int] | None,
    ) -> SendResult:
        for _attempt in range(MAX_RETRIES + 1):
            await self.wait_turn()
            try:
                message = await call()
                if sent_ids is not None and isinstance(message, Message):
                    sent_ids.append(message.message_id)
                return SendResult(SendStatus.SENT)
            except TelegramRetryAfter as exc:
                self.pause(exc.retry_after)
            except TelegramForbiddenError as exc:
                log.info("telegram 403 for chat %s: unreachable", recipient)
                return SendResult(SendStatus.BLOCKED, exc.message)
            except TelegramBadRequest as exc:
                return SendResult(SendStatus.FAILED, exc.message)
            except (TelegramAPIError, ClientDecodeError) as exc:
                # 5xx, a network error, an error page from a proxy, 401 (a revoked token), 404
                # (a wrong api_base), 409: none is the message's fault. Retried with back-off.
                return SendResult(SendStatus.RETRY, f"{type(exc).__name__}: {exc}"[:500])
        return SendResult(SendStatus.RETRY, "still rate limited")
