"""REST API latency over a big database: the ticket list (a page of 50: first, filtered, deep
by cursor) over 100,000 tickets, and every report over 1,000,000 survey responses, against a
real `otklik run` process on SQLite or PostgreSQL. Requests go one at a time (latency, not
throughput); p50 and p95 per endpoint are printed against the goal (p95 under 100 ms), and the
bare `/healthz` endpoint of the same process is the baseline in the same run.
`python bench/api.py --help` for the options.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert  # noqa: E402

from bench.webhook import PG_DEFAULT, start_process, wait_listening  # noqa: E402
from bot.database import engine_for  # noqa: E402
from storage import migrate  # noqa: E402
from storage.models import (  # noqa: E402
    ChannelIdentity,
    Customer,
    SurveyResponse,
    SurveyScoreDay,
    Ticket,
)
from storage.repositories.api import TokenRepository  # noqa: E402
from tests.conftest import free_port, make_settings  # noqa: E402
from tests.pg import drop_schema, fresh_schema  # noqa: E402

CHUNK = 5000
CHANNELS = ("telegram", "webchat", "vk", "whatsapp")
STATUSES = ("new", "open", "waiting", "resolved", "closed")


async def seed(url: str, schema: str, tickets: int, responses: int) -> str:
    settings = make_settings(database={"url": url, "schema": schema})
    engine = engine_for(settings.database)
    await migrate.upgrade(engine)
    rng = random.Random(7)
    now = datetime.now(UTC)
    customers = max(1, tickets // 2)
    async with engine.begin() as conn:
        for start in range(0, customers, CHUNK):
            rows = range(start, min(customers, start + CHUNK))
            await conn.execute(
                insert(Customer),
                [
                    {
                        "display_name": f"c{n}",
                        "language": "ru",
                        "last_channel": CHANNELS[n % 4],
                        "unreachable": False,
                        "surveys_opted_out": False,
                        "timezone": "",
                        "tags": "",
                        "blocked_channels": "",
                        "created_at": now,
                    }
                    for n in rows
                ],
            )
            await conn.execute(
                insert(ChannelIdentity),
                [
                    {
                        "channel": CHANNELS[n % 4],
                        "external_id": str(10_000_000 + n),
                        "customer_id": n + 1,
                        "created_at": now,
                        "offered": "",
                    }
                    for n in rows
                ],
            )
        print(f"  {customers} customers", flush=True)
        for start in range(0, tickets, CHUNK):
            await conn.execute(
                insert(Ticket),
                [
                    {
                        "customer_id": rng.randrange(customers) + 1,
                        "channel": CHANNELS[n % 4],
                        "reply_channel": "",
                        "status": rng.choice(STATUSES),
                        "priority": rng.choice(("low", "normal", "normal", "high", "urgent")),
                        "category": "general",
                        "subject": f"Заказ {n} не пришёл",
                        "assignee_name": "",
                        "alerts_sent": "",
                        "created_at": now - timedelta(minutes=tickets - n),
                        "updated_at": now,
                        "version": 1,
                    }
                    for n in range(start, min(tickets, start + CHUNK))
                ],
            )
        print(f"  {tickets} tickets", flush=True)
        days: Counter[tuple[date, str, int]] = Counter()
        first_day = now - timedelta(days=730)
        for start in range(0, responses, CHUNK * 4):
            batch = []
            for _ in range(start, min(responses, start + CHUNK * 4)):
                at = first_day + timedelta(seconds=rng.randrange(730 * 86400))
                kind = rng.choice(("nps", "nps", "csat", "ces"))
                top = {"nps": 10, "csat": 5, "ces": 7}[kind]
                score = rng.randint(0 if kind == "nps" else 1, top)
                channel = CHANNELS[rng.randrange(4)]
                batch.append(
                    {
                        "kind": kind,
                        "channel": channel,
                        "score": score,
                        "created_at": at,
                        "customer_id": None,
                    }
                )
                days[(at.date(), kind, score, channel)] += 1  # type: ignore[index]
            await conn.execute(insert(SurveyResponse), batch)
        await conn.execute(
            insert(SurveyScoreDay),
            [
                {
                    "kind": kind,
                    "day": day,
                    "campaign_id": 0,
                    "channel": channel,
                    "score": score,
                    "answers": count,
                }
                for (day, kind, score, channel), count in days.items()  # type: ignore[misc]
            ],
        )
        print(f"  {responses} survey responses ({len(days)} day roll-ups)", flush=True)
    from sqlalchemy.ext.asyncio import async_sessionmaker

    async with async_sessionmaker(engine)() as session, session.begin():
        _, token = await TokenRepository(session).create("bench", "admin")
    await engine.dispose()
    return token


async def measure(
    http: aiohttp.ClientSession, url: str, token: str, n: int
) -> tuple[float, float, int]:
    times = []
    status = 0
    for _ in range(n):
        started = time.perf_counter()
        async with http.get(url, headers={"Authorization": f"Bearer {token}"}) as resp:
            await resp.read()
            status = resp.status
        times.append(time.perf_counter() - started)
    times.sort()
    return times[len(times) // 2] * 1000, times[int(len(times) * 0.95)] * 1000, status


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--responses", type=int, default=1_000_000)
    parser.add_argument("-n", type=int, default=100, help="requests per endpoint (100)")
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--pg-url", default=PG_DEFAULT)
    args = parser.parse_args()
    schema = ""
    with tempfile.TemporaryDirectory() as tmp:
        if args.database == "sqlite":
            url = f"sqlite+aiosqlite:///{tmp}/api.db"
        else:
            found = await fresh_schema(args.pg_url, f"bench_api_{os.getpid()}")
            if found is None:
                raise SystemExit("PostgreSQL is not reachable; use --database sqlite")
            url, schema = args.pg_url, found
        print(f"seeding ({args.database}) ...", flush=True)
        began = time.perf_counter()
        token = await seed(url, schema, args.tickets, args.responses)
        print(f"  seeded in {time.perf_counter() - began:.0f} s", flush=True)
        port = free_port()
        env = {
            "OTKLIK__DATABASE__URL": url,
            "OTKLIK__DATABASE__SCHEMA": schema,
            "OTKLIK__HTTP__PORT": str(port),
            "OTKLIK__LOGGING__LEVEL": "ERROR",
            "OTKLIK__SCHEDULER__ENABLED": "false",
            "OTKLIK__API__REQUESTS_PER_MINUTE": "10000000",
            "OTKLIK__API__BURST": "1000000",
        }
        process = start_process([sys.executable, "-m", "bot", "run"], env)
        base = f"http://127.0.0.1:{port}"
        deep = max(1, args.tickets // 2)
        endpoints = [
            ("baseline: /healthz (one ping)", "/healthz"),
            ("tickets: first page of 50", "/api/v1/tickets?limit=50"),
            ("tickets: status=open, channel=vk", "/api/v1/tickets?limit=50&status=open&channel=vk"),
            ("tickets: urgent", "/api/v1/tickets?limit=50&priority=urgent"),
            (f"tickets: page after id {deep}", f"/api/v1/tickets?limit=50&cursor={deep}"),
            ("tickets: one customer's", "/api/v1/tickets?limit=50&customer_id=42"),
            ("one ticket with messages", "/api/v1/tickets/4242"),
            ("report: NPS, all time", "/api/v1/reports/nps"),
            ("report: NPS by month", "/api/v1/reports/nps?by=month"),
            ("report: CSAT by week", "/api/v1/reports/csat?by=week"),
            ("report: CES, one channel", "/api/v1/reports/ces?channel=telegram"),
            (
                "report: NPS, a year, CSV",
                "/api/v1/reports/nps?by=month&format=csv&from="
                + (date.today() - timedelta(days=365)).isoformat(),
            ),
        ]
        try:
            await wait_listening(port, process)
            async with aiohttp.ClientSession() as http:
                print(
                    f"\n{args.tickets} tickets, {args.responses} survey responses,"
                    f" {args.database}; {args.n} requests each, one at a time"
                    f"\n{'endpoint':44} {'p50 ms':>8} {'p95 ms':>8}  goal p95 < 100 ms"
                )
                for label, path in endpoints:
                    await measure(http, base + path, token, 3)  # warm-up
                    p50, p95, status = await measure(http, base + path, token, args.n)
                    verdict = (
                        "" if label.startswith("baseline") else ("ok" if p95 < 100 else "OVER")
                    )
                    print(f"{label:44} {p50:8.1f} {p95:8.1f}  {verdict} (HTTP {status})")
        finally:
            process.terminate()
            await asyncio.to_thread(process.communicate, timeout=15)
            if schema:
                await drop_schema(args.pg_url, schema)


if __name__ == "__main__":
    asyncio.run(main())
