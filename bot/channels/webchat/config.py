"""The `[webchat]` section: which sites may embed the widget, and its flood limits."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from bot.config_rules import ORIGIN, above_zero


@dataclass(frozen=True)
class WebChatConfig:
    # Sites that embed the widget ("https://shop.example"): they may frame the chat page and
    # open its socket. The bot's own address is always allowed.
    allowed_origins: list[str] = field(default_factory=list)
    # Per client address: a bucket of `burst` requests refilled at requests_per_minute, shared
    # by the chat API and the socket's frames; past it, 429 with Retry-After.
    requests_per_minute: float = 60.0
    burst: int = 20
    # Behind a reverse proxy every client has the proxy's address: take the last hop of
    # X-Forwarded-For instead (only when the proxy sets it).
    trust_forwarded_for: bool = False
    # Open chat sockets, in all and per client address.
    max_connections: int = 1000
    max_connections_per_client: int = 10

    def problems(self) -> Iterator[str]:
        keys = ("requests_per_minute", "burst", "max_connections", "max_connections_per_client")
        yield from above_zero(self, "webchat", keys)
        for origin in self.allowed_origins:
            if not ORIGIN.fullmatch(origin):
                yield (
                    f"[webchat] allowed_origins: {origin!r} is not scheme://host[:port] "
                    "(no path, no trailing slash)"
                )
