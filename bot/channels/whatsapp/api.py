"""WhatsApp Cloud API calls, and Meta's error codes mapped to the outbox's outcomes.

https://developers.facebook.com/documentation/business-messaging/whatsapp/support/error-codes
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp

from bot.channels.whatsapp.config import WhatsAppConfig
from bot.core.delivery.outbox import NOT_REACHED, SendResult, SendStatus

# Throughput (130429), pair rate (131056), account rate (80007), app rate (4), Meta's own
# trouble (131000, 131016, 2), an expired or revoked token (190, 0): wait and try again.
RETRY_CODES = {0, 2, 4, 190, 80007, 130429, 131000, 131016, 131056}
WINDOW_CLOSED = 131047  # re-engagement: more than 24 hours since the customer wrote
UNDELIVERABLE = {131026}  # not on WhatsApp, old app, or the number blocked the business


class WhatsAppApi:
    def __init__(
        self, config: WhatsAppConfig, session: Callable[[], aiohttp.ClientSession]
    ) -> None:
        self._config = config
        self._session = session

    @property
    def url(self) -> str:
        config = self._config
        return (
            f"{config.api_base.rstrip('/')}/{config.api_version}/{config.phone_number_id}/messages"
        )

    async def send(self, payload: dict[str, Any]) -> tuple[SendResult, str | None]:
        """(outcome, the message's wamid when sent)."""
        headers = {"Authorization": f"Bearer {self._config.token}"}
        body = {"messaging_product": "whatsapp", "recipient_type": "individual", **payload}
        try:
            timeout = aiohttp.ClientTimeout(total=15)
            async with self._session().post(
                self.url, json=body, headers=headers, timeout=timeout
            ) as response:
                if response.status >= 500:
                    return SendResult(SendStatus.RETRY, f"HTTP {response.status}"), None
                answer = await response.json(content_type=None)
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            return SendResult(SendStatus.RETRY, f"{type(exc).__name__}: {exc}"[:500]), None
        if not isinstance(answer, dict):
            return SendResult(SendStatus.RETRY, "an answer that is not JSON"), None
        error = answer.get("error")
        if error is None:
            messages = answer.get("messages")
            wamid = messages[0].get("id") if isinstance(messages, list) and messages else None
            return SendResult(SendStatus.SENT), wamid if isinstance(wamid, str) else None
        return outcome_of(error), None


def outcome_of(error: Any) -> SendResult:
    code = error.get("code") if isinstance(error, dict) else None
    text = error.get("message", "") if isinstance(error, dict) else ""
    message = f"WhatsApp {code}: {text}"[:500]
    if code in RETRY_CODES:
        return SendResult(SendStatus.RETRY, message)
    if code in UNDELIVERABLE:
        return SendResult(SendStatus.BLOCKED, message)
    if code == WINDOW_CLOSED:
        return SendResult(
            SendStatus.FAILED,
            f"{NOT_REACHED}more than 24 hours since they last wrote on WhatsApp, and WhatsApp "
            "then takes only approved templates ([channels.whatsapp] template)",
        )
    return SendResult(SendStatus.FAILED, message)
