"""What a shared Redis rate bucket granted, read from Redis while instances send: the bucket's
sorted set holds each grant with its time (pyrate-limiter's sliding-window log) until it is
older than the window and cleared; read every 0.2 s, nothing is missed. The record of the
code's decisions, which a test asserts instead of the fake's arrival clock."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio

from bot.core.delivery.rate_limit import MARGIN

REDIS_URL = "redis://127.0.0.1:6379/15"
WINDOW = 1.0 + MARGIN  # the bucket's window: a second and the margin
ALL = "all"  # the lane every send takes a turn from


def sliding_max(times: list[float], window: float = 1.0) -> int:
    """The most calls in any window of `window` seconds (start at each call)."""
    times = sorted(times)
    best, start = 0, 0
    for end, at in enumerate(times):
        while times[start] <= at - window:
            start += 1
        best = max(best, end - start + 1)
    return best


class GrantLog:
    def __init__(self, client: redis.asyncio.Redis) -> None:
        self._client = client
        self._grants: dict[bytes, float] = {}  # member -> granted at (seconds)

    @classmethod
    async def connect(cls, url: str) -> GrantLog:
        client = redis.asyncio.from_url(url)
        try:
            await client.ping()
        except (OSError, redis.RedisError) as exc:
            pytest.skip(f"!!! Redis not reachable at {url} ({exc}): shared rate SKIPPED !!!")
        return cls(client)

    async def watch(self, key: str, every: float = 0.2) -> None:
        """Until cancelled: every grant in `key`'s lane for all sends."""
        while True:
            members = await self._client.zrange(f"{key}:{ALL}", 0, -1, withscores=True)
            for member, score in members:
                self._grants[member] = score / 1000
            await asyncio.sleep(every)

    @property
    def seen(self) -> int:
        return len(self._grants)

    def most_in_any_window(self) -> int:
        return sliding_max(list(self._grants.values()), WINDOW)

    async def close(self) -> None:
        await self._client.aclose()
