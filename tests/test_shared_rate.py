"""One rate per bot token across instances: two limiters (two instances) sharing a Redis bucket
grant at most the cap in any window between them, as the bucket recorded its decisions; a 429
one of them sees pauses the other; with Redis gone each goes on alone instead of stopping.
Without Redis the same through a PostgreSQL row, consulted only while others run."""

from __future__ import annotations

import asyncio
import secrets

import pytest
import redis.asyncio
from sqlalchemy import text

from bot.app import shared_rates
from bot.core.delivery.rate_limit import RateLimiter
from bot.core.delivery.shared_rate import PostgresSharedRate, RedisSharedRate, bucket_key
from storage.db import create_session_pool
from tests.conftest import Database, make_settings
from tests.grant_log import REDIS_URL, WINDOW, sliding_max


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


# Without Redis, on PostgreSQL: the same log in a row per lane.


def _pg_shared(database: Database, key: str, alone: bool = False) -> PostgresSharedRate:
    pool = create_session_pool(database.engine)
    lanes = {"all": 30.0, "campaigns": 25.0}
    return PostgresSharedRate(pool, key, lanes, WINDOW, lambda: alone)


async def test_without_redis_two_instances_stay_under_the_cap_through_postgresql(
    database: Database,
):
    if not database.url.startswith("postgresql"):
        pytest.skip("several instances share a PostgreSQL database")
    key = bucket_key("telegram", secrets.token_hex(8))
    granted: list[float] = []
    limiters = [RateLimiter(25, cap=30, shared=_pg_shared(database, key)) for _ in range(2)]
    for limiter in limiters:  # what each decided, when (within a round trip of the row's time)
        limiter.on_grant = lambda _chat, at: granted.append(at)
    chats = iter(range(10_000))
    await asyncio.gather(
        *(limiter.acquire_reply() for limiter in limiters for _ in range(30)),
        *(limiter.acquire(str(next(chats))) for limiter in limiters for _ in range(15)),
    )
    busiest = sliding_max(granted, 1.0)
    print(f"\n90 sends by two instances through PostgreSQL: at most {busiest} in a second")
    assert len(granted) == 90
    assert busiest <= 30
    async with create_session_pool(database.engine)() as session:
        kept = await session.scalar(
            text("SELECT cardinality(grants) FROM rate_windows WHERE key = :k AND lane = 'all'"),
            {"k": key},
        )
    assert kept is not None and kept <= 30  # only the last window is kept


async def test_without_redis_a_429_pauses_the_other_and_alone_costs_nothing(
    database: Database,
):
    if not database.url.startswith("postgresql"):
        pytest.skip("several instances share a PostgreSQL database")
    key = bucket_key("telegram", secrets.token_hex(8))
    a, b = _pg_shared(database, key), _pg_shared(database, key)
    assert await a.take("all") == 0.0  # granted
    await a.pause(2.0)  # Telegram told A: retry_after 2
    assert 1.0 < await b.take("all") <= 2.0  # B is told to wait out the pause
    alone = _pg_shared(database, bucket_key("telegram", secrets.token_hex(8)), alone=True)
    assert await alone.take("all") == 0.0
    async with create_session_pool(database.engine)() as session:
        rows = await session.scalar(text("SELECT count(*) FROM rate_windows"))
    assert rows == 1  # a's lane "all"; the instance alone wrote nothing
