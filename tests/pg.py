"""PostgreSQL helpers shared by the test runner script and the benchmarks."""

from __future__ import annotations

import asyncpg
from sqlalchemy.engine import make_url


async def connect(url: str) -> asyncpg.Connection | None:
    """A raw connection to the server of an SQLAlchemy URL, or None (reason printed)."""
    parsed = make_url(url)
    try:
        return await asyncpg.connect(
            host=parsed.host,
            port=parsed.port or 5432,
            user=parsed.username,
            password=parsed.password,
            database=parsed.database,
            timeout=3,
        )
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        print(f"PostgreSQL unreachable at {parsed.render_as_string(hide_password=True)}: {exc}")
        return None


async def fresh_schema(url: str, schema: str) -> str | None:
    """Drop and create `schema`; None when the server does not answer."""
    conn = await connect(url)
    if conn is None:
        return None
    await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE; CREATE SCHEMA "{schema}"')
    await conn.close()
    return schema


async def drop_schema(url: str, schema: str) -> None:
    conn = await connect(url)
    if conn is not None:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.close()
