"""One send rate per bot token across instances: the sends every instance is granted are
counted in a shared Redis bucket (pyrate-limiter's sliding-window log, checked and recorded in
one Lua call), and a 429's retry_after seen by one instance pauses all of them (a key that
expires with it). The in-process RateLimiter still spaces sends and keeps replies first; this
is the cap they share. Without Redis, on PostgreSQL, the same log is kept in a row per lane
(`PostgresSharedRate`), consulted only while other instances run.

Times are this host's clock (pyrate-limiter's choice): instances on several hosts need their
clocks in step (NTP keeps them within milliseconds; the window has a 50 ms margin)."""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from pyrate_limiter import Rate, RateItem
from pyrate_limiter.buckets.redis_bucket import RedisBucket
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.db import one_statement
from storage.repositories import rate_windows

log = logging.getLogger(__name__)
LEAK_EVERY = 200  # grants between clearing the entries older than the window


class SharedRate(Protocol):
    """What several instances' limiters share: grants per lane, and a pause."""

    async def take(self, lane: str) -> float:
        """Record a grant in `lane` ("all", "campaigns"); 0 when granted, else the seconds
        until one could be (nothing recorded)."""
        ...

    async def pause(self, seconds: float) -> None:
        """Nobody sends for `seconds` (a 429's retry_after)."""
        ...

    async def paused_for(self) -> float:
        """Seconds left of a pause any instance set (0: none)."""
        ...


# (platform, account, cap, campaigns' rate) -> the shared rate, or None (no Redis).
SharedRates = Callable[[str, str, float, float], "SharedRate | None"]


def bucket_key(platform: str, credential: str) -> str:
    """The Redis key of one platform account's rate: never the credential itself."""
    digest = hashlib.sha256(credential.encode()).hexdigest()[:16]
    return f"otklik:rate:{platform}:{digest}"


class RedisSharedRate:
    def __init__(self, redis: Any, key: str, lanes: dict[str, float], window: float) -> None:
        """`lanes`: sends a second each lane allows, counted in any `window` seconds (a second
        and a margin, as the in-process limiter counts)."""
        self._redis = redis
        self._key = key
        self._lanes = lanes
        self._window_ms = max(int(window * 1000), 1)
        self._buckets: dict[str, RedisBucket] = {}
        self._grants = 0
        self._ready = asyncio.Lock()

    async def _bucket(self, lane: str) -> RedisBucket:
        if lane not in self._buckets:
            async with self._ready:
                if lane not in self._buckets:
                    # As many in any window (a second and a margin) as the lane allows a
                    # second: the margin keeps a second as the platform sees it under it.
                    limit = max(int(self._lanes[lane]), 1)
                    rate = Rate(limit, self._window_ms)
                    self._buckets[lane] = await RedisBucket.init(
                        [rate], self._redis, f"{self._key}:{lane}"
                    )
        return self._buckets[lane]

    async def take(self, lane: str) -> float:
        if self._lanes.get(lane, 0) <= 0:
            return 0.0  # no cap on this lane
        bucket = await self._bucket(lane)
        now = time.time_ns() // 1_000_000
        decision = await _awaited(bucket.put_decision(RateItem(lane, now)))
        if decision.failing_rate is None:
            self._grants += 1
            if self._grants % LEAK_EVERY == 0:
                await _awaited(bucket.leak(now))
            return 0.0
        wait_ms = decision.retry_after_ms
        return 0.01 if wait_ms is None else max(wait_ms / 1000, 0.001)

    async def pause(self, seconds: float) -> None:
        milliseconds = max(int(seconds * 1000), 1)
        # Never shortens a longer pause another instance set.
        current = await self._redis.pttl(f"{self._key}:pause")
        if current is None or current < milliseconds:
            await self._redis.set(f"{self._key}:pause", "1", px=milliseconds)

    async def paused_for(self) -> float:
        left = await self._redis.pttl(f"{self._key}:pause")
        return max(int(left or 0), 0) / 1000


async def _awaited(value: Any) -> Any:
    """pyrate-limiter's buckets answer sync or async by their client; the Redis one is async."""
    return await value if inspect.isawaitable(value) else value


class PostgresSharedRate:
    """The shared rate without Redis: a sliding-window log in `rate_windows` (one UPDATE a
    grant, storage.repositories.rate_windows). Consulted only while other instances run
    (`alone`, bot.peers): one instance alone paces itself as well, without the round trip."""

    def __init__(
        self,
        pool: async_sessionmaker[AsyncSession],
        key: str,
        lanes: dict[str, float],
        window: float,
        alone: Callable[[], bool],
    ) -> None:
        self._pool = pool
        self._key = key
        self._lanes = lanes
        self._window = window
        self._alone = alone
        self._ready: set[str] = set()

    async def take(self, lane: str) -> float:
        if self._lanes.get(lane, 0) <= 0 or self._alone():
            return 0.0
        async with one_statement(self._pool) as session:
            if lane not in self._ready:
                await rate_windows.ensure(session, self._key, lane)
                self._ready.add(lane)
            limit = max(int(self._lanes[lane]), 1)
            return await rate_windows.take(session, self._key, lane, limit, self._window)

    async def pause(self, seconds: float) -> None:
        if self._alone():
            return  # this instance's own limiter pauses itself
        async with one_statement(self._pool) as session:
            await rate_windows.pause(session, self._key, seconds)

    async def paused_for(self) -> float:
        """0: `take` refuses during a pause and says how long is left (one round trip a
        send, not two)."""
        return 0.0
