"""Report speed: NPS, CSAT and CES with a weekly trend over N survey responses, on SQLite and
PostgreSQL, timed as `otklik report` runs them (from the daily roll-up; goal: under 250 ms each)
beside the same report scanned from the answers, plus the roll-up's cost: the migration's
backfill and the extra time per stored answer. `python bench/report.py --help` for options."""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, select, text  # noqa: E402

from bot.reports.surveys import rows_for  # noqa: E402
from storage import migrate  # noqa: E402
from storage.db import create_engine, create_session_pool  # noqa: E402
from storage.models import SurveyResponse, SurveyScoreDay  # noqa: E402
from storage.repositories.reports import (  # noqa: E402
    ReportFilter,
    add_response,
    counts_from_answers,
    score_counts,
)
from tests.pg import fresh_schema  # noqa: E402

PG_DEFAULT = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
SCALES = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}
REPEATS = 5


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
    """Answers stored before the roll-up existed, then the migration that backfills it."""
    engine = create_engine(url, schema=schema)
    await migrate.upgrade(engine, "0007")
    started = time.perf_counter()
    async with create_session_pool(engine)() as session, session.begin():
        for offset in range(0, len(rows), 50_000):
            await session.execute(insert(SurveyResponse), rows[offset : offset + 50_000])
    print(f"  loaded {len(rows):,} responses in {time.perf_counter() - started:.1f} s", flush=True)
    started = time.perf_counter()
    await migrate.upgrade(engine)
    async with create_session_pool(engine)() as session:
        days = await session.scalar(select(func.count()).select_from(SurveyScoreDay))
    print(
        f"  migration backfilled {days:,} roll-up rows in {time.perf_counter() - started:.1f} s",
        flush=True,
    )
    if engine.dialect.name == "postgresql":
        # The steady state autovacuum would reach: statistics and a visibility map, so the
        # report index can be read without the table.
        async with engine.connect() as conn:
            autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.execute(text("VACUUM ANALYZE survey_responses"))
            await autocommit.execute(text("VACUUM ANALYZE survey_score_days"))
    await engine.dispose()


async def _time(pool: Any, count: Callable[..., Awaitable[Any]], report: ReportFilter) -> float:
    timings = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        async with pool() as session:
            rows_for(report.kind, await count(session, report))
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


async def measure(url: str, schema: str) -> None:
    engine = create_engine(url, schema=schema)
    pool = create_session_pool(engine)
    print(f"  {'report':14} {'roll-up':>10} {'answers scan':>13}  (median of {REPEATS})")
    for kind in ("nps", "csat", "ces"):
        for by in (None, "week"):
            report = ReportFilter(kind=kind, by=by)
            rolled = await _time(pool, score_counts, report)
            scanned = await _time(pool, counts_from_answers, report)
            async with pool() as session:
                same = await score_counts(session, report) == await counts_from_answers(
                    session, report
                )
            label = f"{kind} {'weekly' if by else 'overall'}"
            print(
                f"  {label:14} {rolled:7.1f} ms {scanned:10.1f} ms  "
                f"{'same figures' if same else 'FIGURES DIFFER'}"
            )
    await engine.dispose()


async def write_cost(url: str, schema: str, n: int = 2000) -> None:
    """Per answer: a plain insert against add_response (insert + roll-up upsert), each in its
    own transaction as the bot stores them."""
    engine = create_engine(url, schema=schema)
    pool = create_session_pool(engine)
    sample = responses(n, seed=11)
    costs = {}
    for label, rolled in (("plain insert", False), ("add_response", True)):
        started = time.perf_counter()
        for row in sample:
            async with pool() as session, session.begin():
                response = SurveyResponse(**row)
                if rolled:
                    await add_response(session, response)
                else:
                    session.add(response)
        costs[label] = (time.perf_counter() - started) / n * 1000
    print(
        f"  storing an answer: plain insert {costs['plain insert']:.2f} ms, "
        f"with roll-up {costs['add_response']:.2f} ms"
    )
    await engine.dispose()


async def main() -> None:
    global REPEATS
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=1_000_000, help="responses (1,000,000)")
    parser.add_argument("--repeats", type=int, default=REPEATS)
    parser.add_argument("--pg-url", default=PG_DEFAULT)
    args = parser.parse_args()
    REPEATS = args.repeats
    rows = responses(args.n)
    with tempfile.TemporaryDirectory() as tmp:
        print("SQLite:")
        url = f"sqlite+aiosqlite:///{tmp}/report.db"
        await load(url, "", rows)
        await measure(url, "")
        await write_cost(url, "")
    schema = await fresh_schema(args.pg_url, "bench_report")
    if schema is not None:
        print("PostgreSQL:")
        await load(args.pg_url, schema, rows)
        await measure(args.pg_url, schema)
        await write_cost(args.pg_url, schema)
    else:
        print("PostgreSQL: not reachable, skipped")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory of this process: {peak:.0f} MiB (includes the generated rows)")


if __name__ == "__main__":
    asyncio.run(main())
