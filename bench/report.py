"""Report speed: NPS, CSAT and CES with a weekly trend over N survey responses, on SQLite and
PostgreSQL, timed in SQL as `otklik report` runs them (goal: under 250 ms each), plus the
process's peak memory. `python bench/report.py --help` for the options."""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, text  # noqa: E402

from bot.reports import rows_for  # noqa: E402
from storage import migrate  # noqa: E402
from storage.db import create_engine, create_session_pool  # noqa: E402
from storage.models import SurveyResponse  # noqa: E402
from storage.repositories.reports import ReportFilter, score_counts  # noqa: E402
from tests.pg import fresh_schema  # noqa: E402

PG_DEFAULT = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
SCALES = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}


def responses(n: int, seed: int = 7) -> list[dict[str, object]]:
    rng = random.Random(seed)
    start = datetime(2025, 11, 23, tzinfo=UTC)
    kinds = ["nps", "nps", "csat", "ces"]
    rows = []
    for _ in range(n):
        kind = rng.choice(kinds)
        low, high = SCALES[kind]
        rows.append(
            {
                "kind": kind,
                "campaign_id": rng.randint(1, 20),
                "customer_id": rng.randint(1, 200_000),
                "channel": rng.choice(["telegram", "telegram", "webchat"]),
                "score": None if rng.random() < 0.03 else rng.randint(low, high),
                "created_at": start + timedelta(seconds=rng.randint(0, 365 * 86400)),
            }
        )
    return rows


async def load(url: str, schema: str, rows: list[dict[str, object]]) -> None:
    engine = create_engine(url, schema=schema)
    await migrate.upgrade(engine)
    started = time.perf_counter()
    async with create_session_pool(engine)() as session, session.begin():
        for offset in range(0, len(rows), 50_000):
            await session.execute(insert(SurveyResponse), rows[offset : offset + 50_000])
    if engine.dialect.name == "postgresql":
        # The steady state autovacuum would reach: statistics and a visibility map, so the
        # report index can be read without the table.
        async with engine.connect() as conn:
            autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.execute(text("VACUUM ANALYZE survey_responses"))
    print(f"  loaded {len(rows):,} responses in {time.perf_counter() - started:.1f} s", flush=True)
    await engine.dispose()


async def measure(url: str, schema: str, repeats: int) -> None:
    engine = create_engine(url, schema=schema)
    pool = create_session_pool(engine)
    for kind in ("nps", "csat", "ces"):
        for by in (None, "week"):
            timings = []
            for _ in range(repeats):
                started = time.perf_counter()
                async with pool() as session:
                    counts = await score_counts(session, ReportFilter(kind=kind, by=by))
                rows = rows_for(kind, counts)
                timings.append((time.perf_counter() - started) * 1000)
            label = f"{kind} {'weekly' if by else 'overall'}"
            print(
                f"  {label:14} median {statistics.median(timings):7.1f} ms  "
                f"best {min(timings):7.1f} ms  ({len(rows)} rows)"
            )
    await engine.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=1_000_000, help="responses (1,000,000)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--pg-url", default=PG_DEFAULT)
    args = parser.parse_args()
    rows = responses(args.n)
    with tempfile.TemporaryDirectory() as tmp:
        print("SQLite:")
        url = f"sqlite+aiosqlite:///{tmp}/report.db"
        await load(url, "", rows)
        await measure(url, "", args.repeats)
    schema = await fresh_schema(args.pg_url, "bench_report")
    if schema is not None:
        print("PostgreSQL:")
        await load(args.pg_url, schema, rows)
        await measure(args.pg_url, schema, args.repeats)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory of this process: {peak:.0f} MiB (includes the generated rows)")


if __name__ == "__main__":
    asyncio.run(main())
