"""Plain Telegram messages as JSON posts: replies, relays and campaign questions.

A message with an inline keyboard costs, through aiogram, a pydantic model per button, a form
encoding, and a full `Message` parsed from the answer: more CPU than the rest of a campaign send
together (bench/campaign.py: about 1,200/s with aiogram alone), and a large share of a reply's.
This sender posts the Bot API's JSON on aiogram's own HTTP session and reads back only the
message id or the error. Anything else (edits, attachments, forum topics, texts that need
splitting) goes through `TelegramSender`, which also owns the 429 pause both share.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import aiohttp
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession

from bot.channels.telegram.sender import MAX_RETRIES, TelegramSender, render_plain
from bot.core.delivery.outbox import SendResult, SendStatus
from bot.core.messages import Reply

log = logging.getLogger(__name__)


class TelegramJsonSender:
    def __init__(
        self, bot: Bot, fallback: TelegramSender, timeout: float = 30.0, *, paced: bool = True
    ) -> None:
        # paced=False for campaign sends: the campaign sender took their turn already.
        self._paced = paced
        if not isinstance(bot.session, AiohttpSession):
            raise TypeError("TelegramJsonSender posts on aiogram's AiohttpSession")
        self._session = bot.session
        self._fallback = fallback
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        # Holds the token: never logged.
        self._url = bot.session.api.api_url(token=bot.token, method="sendMessage")

    async def send(
        self,
        recipient: str,
        reply: Reply,
        *,
        thread_id: int | None = None,
        sent_ids: list[int] | None = None,
        key: str | None = None,
    ) -> SendResult:
        parts = render_plain(reply) if reply.text else []
        plain = (
            len(parts) == 1
            and reply.image is None
            and reply.attachment is None
            and reply.edit_message_id is None
            and thread_id is None
        )
        if not plain:
            return await self._fallback.send(
                recipient, reply, thread_id=thread_id, sent_ids=sent_ids
            )
        text, keyboard = parts[0]
        payload: dict[str, Any] = {"chat_id": int(recipient), "text": text, "parse_mode": "HTML"}
        if keyboard is not None:
            payload["reply_markup"] = {"inline_keyboard": keyboard}
        body = json.dumps(payload, ensure_ascii=False)
        for attempt in range(MAX_RETRIES + 1):
            # A campaign's retry after a 429 queues for a campaign turn like any send.
            await self._fallback.wait_turn(
                self._paced or attempt > 0, None if self._paced else recipient
            )
            status, answer = await self._post(body)
            if status == 200 and answer.get("ok"):
                if sent_ids is not None:
                    sent_ids.append(int(answer["result"]["message_id"]))
                return SendResult(SendStatus.SENT)
            description = str(answer.get("description", ""))
            if status >= 500 or not description:  # "Internal Server Error" alone says little
                description = f"HTTP {status}: {description}".rstrip(": ")
            if status == 429:
                retry_after = (answer.get("parameters") or {}).get("retry_after", 1)
                self._fallback.pause(float(retry_after))
                continue
            if status == 403:
                log.info("telegram 403 for chat %s: unreachable", recipient)
                return SendResult(SendStatus.BLOCKED, description)
            if status == 400:
                return SendResult(SendStatus.FAILED, description)
            # 5xx, a network error, or a status we do not expect (401: a revoked token):
            # the campaign sender retries with back-off and gives up after a few attempts.
            return SendResult(SendStatus.RETRY, description)
        return SendResult(SendStatus.RETRY, "still rate limited")

    async def _post(self, body: str) -> tuple[int, dict[str, Any]]:
        """The HTTP status and the decoded answer; a network failure is status 0."""
        http = await self._session.create_session()
        try:
            async with http.post(
                self._url,
                data=body.encode(),
                headers={"Content-Type": "application/json"},
                timeout=self._timeout,
            ) as response:
                raw = await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            return 0, {"description": f"network error: {type(exc).__name__}"}
        try:
            answer = json.loads(raw)
        except ValueError:
            return status, {"description": "not JSON (an error page?)"}
        return status, answer if isinstance(answer, dict) else {}
