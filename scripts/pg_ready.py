"""Exit 0 if the PostgreSQL server in argv[1] (an SQLAlchemy asyncpg URL) answers, else 1."""

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.pg import connect


async def main(url: str) -> int:
    conn = await connect(url)
    if conn is None:
        return 1
    await conn.close()
    return 0


sys.exit(asyncio.run(main(sys.argv[1])))
