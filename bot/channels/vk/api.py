"""VK API calls for a community bot, and VK's error codes mapped to the outbox's outcomes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp

from bot.channels.vk.config import VkConfig
from bot.core.delivery.outbox import SendResult, SendStatus

# https://dev.vk.com/reference/errors: rate limits and VK's own trouble are retried; a user who
# blocked the community or never allowed messages is unreachable.
RETRY_CODES = {1, 5, 6, 9, 10}  # unknown, auth failed (a revoked token), per second, flood
BLOCKED_CODES = {7, 900, 901, 902}  # no permission, blacklisted, no messages allowed, privacy


class VkApi:
    def __init__(self, config: VkConfig, session: Callable[[], aiohttp.ClientSession]) -> None:
        self._config = config
        self._session = session

    async def call(self, method: str, params: dict[str, Any]) -> SendResult:
        form = {
            **{k: str(v) for k, v in params.items()},
            "access_token": self._config.token,
            "v": self._config.api_version,
        }
        url = f"{self._config.api_base.rstrip('/')}/{method}"
        try:
            timeout = aiohttp.ClientTimeout(total=15)
            async with self._session().post(url, data=form, timeout=timeout) as response:
                if response.status >= 500:
                    return SendResult(SendStatus.RETRY, f"HTTP {response.status}")
                answer = await response.json(content_type=None)
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            return SendResult(SendStatus.RETRY, f"{type(exc).__name__}: {exc}"[:500])
        error = answer.get("error") if isinstance(answer, dict) else None
        if error is None:
            return SendResult(SendStatus.SENT)
        code = error.get("error_code") if isinstance(error, dict) else None
        message = f"VK {code}: {error.get('error_msg', '') if isinstance(error, dict) else ''}"
        if code in BLOCKED_CODES:
            return SendResult(SendStatus.BLOCKED, message[:500])
        if code in RETRY_CODES:
            return SendResult(SendStatus.RETRY, message[:500])
        return SendResult(SendStatus.FAILED, message[:500])
