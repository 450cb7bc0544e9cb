"""A `[channels.http.NAME]` section: one platform behind the generic HTTP channel."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from bot.config_rules import CHANNEL_NAME, RESERVED_CHANNELS


@dataclass(frozen=True)
class HttpChannelConfig:
    """One platform behind the generic HTTP channel (a shop's app, a CRM, a bridge)."""

    # Where replies and staff messages are POSTed (signed like the inbound requests).
    outbound_url: str = ""
    # The shared HMAC-SHA256 key, both directions; keep it in the environment:
    # OTKLIK__CHANNELS__HTTP__<NAME>__SECRET.
    secret: str = ""
    # What the platform can show: buttons per message (0: none, options go as numbered text
    # the customer answers by typing the number) and per row, text length.
    buttons_per_message: int = 20
    buttons_per_row: int = 4
    text_chars: int = 4096
    timeout_seconds: float = 10.0

    def problems(self, name: str) -> Iterator[str]:
        where = f"[channels.http.{name}]"
        if not CHANNEL_NAME.fullmatch(name) or name in RESERVED_CHANNELS:
            yield (
                f"{where}: the name must be 2-24 of a-z, 0-9, _ and -, and not one of "
                f"{', '.join(RESERVED_CHANNELS)}"
            )
        if not self.outbound_url.startswith(("http://", "https://")):
            yield f"{where} outbound_url: an http:// or https:// URL is required"
        if len(self.secret) < 16:
            yield (
                f"{where} secret: at least 16 characters (keep it in the environment: "
                f"OTKLIK__CHANNELS__HTTP__{name.upper()}__SECRET)"
            )
        if self.buttons_per_message < 0 or self.buttons_per_row <= 0:
            yield (
                f"{where}: buttons_per_message must be 0 or more (0: options are sent as "
                "numbered text) and buttons_per_row above 0"
            )
        if self.text_chars < 100 or self.timeout_seconds <= 0:
            yield f"{where}: text_chars >= 100 and timeout_seconds > 0"
