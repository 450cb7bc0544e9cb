"""One rate per bot token across instances: two limiters (two instances) sharing a Redis bucket
grant at most the cap in any window between them, as the bucket recorded its decisions; a 429
one of them sees pauses the other; with Redis gone each goes on alone instead of stopping."""

from __future__ import annotations

import asyncio
import secrets

import pytest
import redis.asyncio

from bot.app import shared_rates
from bot.core.delivery.rate_limit import RateLimiter
from bot.core.delivery.shared_rate import RedisSharedRate, bucket_key
from tests.conftest import make_settings
from tests.grant_log import REDIS_URL, WINDOW


@pytest.fixture
async def client():  # type: ignore[no-untyped-def]
    connection = redis.asyncio.from_url(REDIS_URL)
    try:
        await connection.ping()
    except (OSError, redis.RedisError) as exc:
        pytest.skip(f"!!! Redis not reachable at {REDIS_URL} ({exc}): shared rate SKIPPED !!!")
    yield connection
    await connection.aclose()


def _shared(client: redis.asyncio.Redis, key: str) -> RedisSharedRate:
    return RedisSharedRate(client, key, {"all": 30.0, "campaigns": 25.0}, window=WINDOW)


async def test_two_instances_together_stay_under_the_cap(client: redis.asyncio.Redis):
    key = bucket_key("telegram", secrets.token_hex(8))
    a = RateLimiter(25, cap=30, shared=_shared(client, key))
    b = RateLimiter(25, cap=30, shared=_shared(client, key))
    # Each instance alone would allow 30 a second; together they ask for 90 sends.
    chats = iter(range(10_000))
    await asyncio.gather(
        *(limiter.acquire_reply() for limiter in (a, b) for _ in range(30)),
        *(limiter.acquire(str(next(chats))) for limiter in (a, b) for _ in range(15)),
    )
    # What the bucket decided: every grant's time as it recorded it.
    granted = sorted(
        int(score) for _, score in await client.zrange(f"{key}:all", 0, -1, withscores=True)
    )
    assert len(granted) == 90
    window_ms = int(WINDOW * 1000)
    busiest = max(sum(1 for t in granted if start <= t < start + window_ms) for start in granted)
    print(f"\n90 sends by two instances: at most {busiest} in any {window_ms} ms (cap 30)")
    assert busiest <= 30
    campaigns = sorted(
        int(s) for _, s in await client.zrange(f"{key}:campaigns", 0, -1, withscores=True)
    )
    assert len(campaigns) == 30
    assert max(sum(1 for t in campaigns if s <= t < s + window_ms) for s in campaigns) <= 25


async def test_a_429_seen_by_one_instance_pauses_the_other(client: redis.asyncio.Redis):
    key = bucket_key("telegram", secrets.token_hex(8))
    asked: list[float] = []

    async def sleep(seconds: float) -> None:  # what B decided to wait, not how long it took
        asked.append(seconds)
        await asyncio.sleep(0)

    a = RateLimiter(25, cap=30, shared=_shared(client, key))
    b = RateLimiter(25, cap=30, shared=_shared(client, key), sleep=sleep)
    a.pause(2.0)  # Telegram told A: retry_after 2
    await asyncio.sleep(0.05)  # the pause reaches Redis
    task = asyncio.create_task(b.acquire_reply())
    for _ in range(500):  # until B has decided (its sleep was asked for)
        if asked:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert 1.0 < await _shared(client, key).paused_for() <= 2.0
    assert asked[0] > 0  # B waits instead of sending into the pause


async def test_with_redis_gone_an_instance_paces_itself_alone():
    gone = redis.asyncio.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    limiter = RateLimiter(25, cap=30, shared=_shared(gone, "otklik:rate:test:gone"))
    await asyncio.wait_for(limiter.acquire_reply(), 5)  # granted, not stuck
    await gone.aclose()


def test_each_platform_account_has_its_own_bucket_and_none_without_redis():
    rates = shared_rates(make_settings(redis={"url": REDIS_URL}))
    telegram = rates("telegram", "123:token", 30, 25)
    vk = rates("vk", "5", 20, 16)
    assert isinstance(telegram, RedisSharedRate) and isinstance(vk, RedisSharedRate)
    assert telegram._key != vk._key and "123:token" not in telegram._key  # never the token
    assert shared_rates(make_settings())("telegram", "123:token", 30, 25) is None
