"""Limits on what one client of the public web chat may cost: requests a minute, open sockets.

Counters live in memory, per process: they protect this process's event loop, which is what a
flood exhausts. Behind several instances each one limits on its own (so a client gets at most
`instances` times the rate), which is still a bound.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from bot.channels.webchat.config import WebChatConfig

MAX_CLIENTS = 50_000  # buckets kept; the least recently seen are forgotten first


def client_address(request: web.Request, trust_forwarded_for: bool) -> str:
    """The address a limit applies to: the peer, or the proxy's last X-Forwarded-For hop."""
    if trust_forwarded_for:
        forwarded = request.headers.get("X-Forwarded-For", "")
        last = forwarded.rsplit(",", 1)[-1].strip()
        if last:
            return last[:64]
    return request.remote or "unknown"


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RequestLimiter:
    """A token bucket per client: `burst` requests at once, refilled at `per_minute`."""

    def __init__(
        self, per_minute: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate = per_minute / 60.0
        self._burst = float(burst)
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def take(self, client: str) -> float:
        """Spend one request; 0.0 if allowed, else the seconds until one is."""
        now = self._clock()
        bucket = self._buckets.pop(client, None)
        if bucket is None:
            bucket = _Bucket(self._burst, now)
            if len(self._buckets) >= MAX_CLIENTS:
                self._buckets.popitem(last=False)
        else:
            bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.updated) * self._rate)
            bucket.updated = now
        self._buckets[client] = bucket
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self._rate


class ConnectionGate:
    """Open sockets, in all and per client."""

    def __init__(self, total: int, per_client: int) -> None:
        self._total = total
        self._per_client = per_client
        self._open: dict[str, int] = {}
        self._count = 0

    @property
    def open(self) -> int:
        return self._count

    def enter(self, client: str) -> bool:
        if self._count >= self._total or self._open.get(client, 0) >= self._per_client:
            return False
        self._open[client] = self._open.get(client, 0) + 1
        self._count += 1
        return True

    def leave(self, client: str) -> None:
        left = self._open.get(client, 0) - 1
        if left > 0:
            self._open[client] = left
        else:
            self._open.pop(client, None)
        self._count -= 1


class OriginPolicy:
    """Which pages may open the chat socket and frame the chat page."""

    def __init__(self, allowed: list[str]) -> None:
        self._allowed = frozenset(origin.lower() for origin in allowed)
        self.frame_ancestors = " ".join(["'self'", *allowed])

    def allows(self, request: web.Request) -> bool:
        """No Origin header (not a browser) or our own or a listed site."""
        origin = request.headers.get("Origin")
        if origin is None:
            return True
        origin = origin.lower()
        own = f"{request.scheme}://{request.host}".lower()
        return origin == own or origin in self._allowed


class WebChatGuard:
    """The three limits together, built from `[webchat]`."""

    def __init__(self, config: WebChatConfig) -> None:
        self.config = config
        self.requests = RequestLimiter(config.requests_per_minute, config.burst)
        self.connections = ConnectionGate(config.max_connections, config.max_connections_per_client)
        self.origins = OriginPolicy(config.allowed_origins)

    def client(self, request: web.Request) -> str:
        return client_address(request, self.config.trust_forwarded_for)


def retry_after(seconds: float) -> str:
    """A Retry-After value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))
