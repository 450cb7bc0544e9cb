"""Exit 0 if the PostgreSQL server in argv[1] (an SQLAlchemy asyncpg URL) answers, else 1."""

import asyncio
import sys

import asyncpg
from sqlalchemy.engine import make_url


async def main(url: str) -> int:
    parsed = make_url(url)
    try:
        conn = await asyncpg.connect(
            host=parsed.host,
            port=parsed.port or 5432,
            user=parsed.username,
            password=parsed.password,
            database=parsed.database,
            timeout=3,
        )
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        print(f"pg_ready: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    await conn.close()
    return 0


sys.exit(asyncio.run(main(sys.argv[1])))
