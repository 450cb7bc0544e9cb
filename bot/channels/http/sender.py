"""Outbound for the generic HTTP channel: each reply POSTed, signed, to the platform's URL.

The outbox calls this and owns retries: 2xx is sent; 410 Gone means the user is gone (marked
unreachable, like a Telegram 403); 429, 5xx and network errors are retried with back-off;
another 4xx is the message's fault and is not retried."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable

import aiohttp
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channels.http.config import HttpChannelConfig
from bot.channels.http.payloads import reply_payload
from bot.core import choices
from bot.core.channel import Capabilities, fit
from bot.core.choices import numbered
from bot.core.delivery.outbox import SendResult, SendStatus
from bot.core.delivery.signing import signed_headers
from bot.core.messages import Reply
from storage.db import short_statements


class HttpChannelSender:
    def __init__(
        self,
        config: HttpChannelConfig,
        capabilities: Capabilities,
        session: Callable[[], aiohttp.ClientSession],
        channel: str,
        pool: async_sessionmaker[AsyncSession],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._config = config
        self._channel = channel
        self._pool = pool
        self._capabilities = capabilities
        self._session = session
        self._clock = clock

    async def send(
        self,
        recipient: str,
        reply: Reply,
        *,
        sent_ids: list[int] | None = None,
        key: str | None = None,
    ) -> SendResult:
        buttons = [b for row in reply.buttons for b in row]
        if len(buttons) > self._capabilities.buttons_per_message:
            # More options than the platform shows (or it shows none): numbered text, and
            # what each number means kept where the answer will be read.
            text, offered = numbered(reply.text, buttons)
            with short_statements():
                async with self._pool() as session, session.begin():
                    await choices.offer(session, self._channel, recipient, offered)
            reply = dataclasses.replace(reply, text=text, buttons=())
        for index, part in enumerate(fit(reply, self._capabilities)):
            # The platform can drop a resend it has seen: same key, same part.
            result = await self._post(recipient, part, f"{key}:{index}" if key else None)
            if result.status is not SendStatus.SENT:
                return result
        return SendResult(SendStatus.SENT)

    async def _post(self, recipient: str, reply: Reply, key: str | None) -> SendResult:
        body = json.dumps(reply_payload(recipient, reply), ensure_ascii=False).encode()
        headers = {
            "Content-Type": "application/json",
            **signed_headers(self._config.secret, body, self._clock()),
        }
        if key is not None:
            headers["X-Otklik-Delivery"] = key
        timeout = aiohttp.ClientTimeout(total=self._config.timeout_seconds)
        try:
            async with self._session().post(
                self._config.outbound_url, data=body, headers=headers, timeout=timeout
            ) as response:
                status = response.status
                detail = (await response.text())[:200]
        except (TimeoutError, aiohttp.ClientError) as exc:
            return SendResult(SendStatus.RETRY, f"{type(exc).__name__}: {exc}"[:500])
        if 200 <= status < 300:
            return SendResult(SendStatus.SENT)
        error = f"HTTP {status}: {detail}"
        if status == 410:
            return SendResult(SendStatus.BLOCKED, error)
        if status == 429 or status >= 500 or status == 408:
            return SendResult(SendStatus.RETRY, error)
        return SendResult(SendStatus.FAILED, error)
