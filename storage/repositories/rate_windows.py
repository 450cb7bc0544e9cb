"""A sliding-window log of sends in one PostgreSQL row per (account, lane): one UPDATE checks
the pause and the count in the window and records the grant, under the row's lock, so two
instances asking at once take turns (a waiting UPDATE re-reads the row its rival wrote before
it decides). Times are the database's clock, one for every instance."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

_NOW = "extract(epoch from clock_timestamp())::float8"
_SINCE = f"{_NOW} - CAST(:window AS float8)"  # the window's start
_ENSURE = text(
    "INSERT INTO rate_windows (key, lane, grants, paused_until) "
    "VALUES (:key, :lane, '{}', 0) ON CONFLICT DO NOTHING"
)
_TAKE = text(
    "UPDATE rate_windows SET grants = array_append("
    f"ARRAY(SELECT g FROM unnest(grants) g WHERE g > {_SINCE}), {_NOW}) "
    f"WHERE key = :key AND lane = :lane AND paused_until <= {_NOW} "
    f"AND (SELECT count(*) FROM unnest(grants) g WHERE g > {_SINCE}) < :limit "
    "RETURNING 1"
)
# Refused: until the pause ends, or until the oldest grant in the window leaves it.
_WAIT = text(
    f"SELECT greatest(paused_until - {_NOW}, "
    f"coalesce((SELECT min(g) FROM unnest(grants) g WHERE g > {_SINCE}), 0) "
    f"+ CAST(:window AS float8) - {_NOW}) FROM rate_windows WHERE key = :key AND lane = :lane"
)
_PAUSE = text(
    "UPDATE rate_windows SET paused_until = "
    f"greatest(paused_until, {_NOW} + CAST(:seconds AS float8)) WHERE key = :key"
)


async def ensure(session: AsyncSession, key: str, lane: str) -> None:
    await session.execute(_ENSURE, {"key": key, "lane": lane})


async def take(session: AsyncSession, key: str, lane: str, limit: int, window: float) -> float:
    """0 when granted (and recorded); else the seconds until one could be."""
    params = {"key": key, "lane": lane, "limit": limit, "window": window}
    if (await session.execute(_TAKE, params)).first() is not None:
        return 0.0
    wait = (await session.execute(_WAIT, params)).scalar()
    return max(float(wait or 0.0), 0.001)


async def pause(session: AsyncSession, key: str, seconds: float) -> None:
    await session.execute(_PAUSE, {"key": key, "seconds": seconds})
