"""Web inbox live-update latency: from a customer's complaint to the staff member's page.

A real `otklik run` (SQLite or PostgreSQL), a staff member signed in with the live socket
open, as the browser's live.js keeps it. Each round a customer sends a complaint through the
web chat API; measured from just before that request:
  baseline   the customer's own request, answered (the floor: the ticket exists by then);
  socket     the live frame naming the new ticket reaching the staff socket;
  page       the queue page fetched after the frame showing the ticket (what live.js does).
Rounds are spaced by a random 0-300 ms so they do not lock to the watcher's poll. Goal: page
p95 under 500 ms. `python bench/inbox_live.py --help` for the options.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.webhook import PG_DEFAULT, start_process, wait_listening  # noqa: E402
from bot.database import engine_for  # noqa: E402
from bot.web.passwords import hash_password  # noqa: E402
from storage import migrate  # noqa: E402
from storage.db import create_session_pool  # noqa: E402
from storage.models import utcnow  # noqa: E402
from storage.repositories.staff_accounts import AccountRepository  # noqa: E402
from tests.conftest import free_port, make_settings  # noqa: E402
from tests.pg import drop_schema, fresh_schema  # noqa: E402

PASSWORD = "bench password 1"
GOAL_MS = 500.0


async def prepare(url: str, schema: str) -> None:
    settings = make_settings(database={"url": url, "schema": schema})
    engine = engine_for(settings.database)
    await migrate.upgrade(engine)
    async with create_session_pool(engine)() as session, session.begin():
        await AccountRepository(session).add(
            "bench", "Bench", "agent", hash_password(PASSWORD), utcnow()
        )
    await engine.dispose()


def percentiles(values: list[float]) -> tuple[float, float, float]:
    ordered = sorted(values)
    return (
        ordered[len(ordered) // 2],
        ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))],
        ordered[-1],
    )


async def rounds(base: str, n: int) -> dict[str, list[float]]:
    measured: dict[str, list[float]] = {"baseline": [], "socket": [], "page": []}
    rng = random.Random(3)
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as staff, aiohttp.ClientSession() as chat:
        async with staff.post(
            base + "/inbox/login",
            data={"login": "bench", "password": PASSWORD, "next": "/inbox"},
            allow_redirects=False,
        ) as resp:
            assert resp.status == 303, resp.status
        async with staff.ws_connect(base.replace("http", "ws") + "/inbox/live") as socket:
            await asyncio.sleep(1.0)  # the watcher starts with the first socket
            for number in range(n):
                session_id = f"bench-live-{os.getpid()}-{number:05d}"
                subject = f"Заказ {number} не пришёл"
                async with chat.post(
                    base + "/api/v1/chat/messages",
                    json={"session": session_id, "text": "/complaint"},
                ) as resp:
                    assert resp.status == 200
                await asyncio.sleep(rng.uniform(0, 0.3))
                started = time.perf_counter()
                async with chat.post(
                    base + "/api/v1/chat/messages", json={"session": session_id, "text": subject}
                ) as resp:
                    assert resp.status == 200
                measured["baseline"].append(time.perf_counter() - started)
                await socket.receive_json(timeout=10)
                measured["socket"].append(time.perf_counter() - started)
                async with staff.get(base + "/inbox") as resp:
                    shown = subject in await resp.text()
                assert shown, f"round {number}: the queue does not show the new ticket"
                measured["page"].append(time.perf_counter() - started)
    return measured


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=100, help="complaints (100)")
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--pg-url", default=PG_DEFAULT)
    args = parser.parse_args()
    schema = ""
    with tempfile.TemporaryDirectory() as tmp:
        if args.database == "sqlite":
            url = f"sqlite+aiosqlite:///{tmp}/live.db"
        else:
            found = await fresh_schema(args.pg_url, f"bench_live_{os.getpid()}")
            if found is None:
                raise SystemExit("PostgreSQL is not reachable; use --database sqlite")
            url, schema = args.pg_url, found
        await prepare(url, schema)
        port = free_port()
        env = {
            "OTKLIK__DATABASE__URL": url,
            "OTKLIK__DATABASE__SCHEMA": schema,
            "OTKLIK__HTTP__PORT": str(port),
            "OTKLIK__LOGGING__LEVEL": "ERROR",
            "OTKLIK__SCHEDULER__ENABLED": "false",
            "OTKLIK__WEBCHAT__REQUESTS_PER_MINUTE": "1000000",
            "OTKLIK__WEBCHAT__BURST": "100000",
        }
        process = start_process([sys.executable, "-m", "bot", "run"], env)
        try:
            await wait_listening(port, process)
            measured = await rounds(f"http://127.0.0.1:{port}", args.n)
        finally:
            process.terminate()
            await asyncio.to_thread(process.communicate, timeout=15)
            if schema:
                await drop_schema(args.pg_url, schema)
    print(f"\n{args.n} complaints, {args.database}; from the customer's request, in ms")
    print(f"{'':34} {'p50':>7} {'p95':>7} {'max':>7}")
    labels = {
        "baseline": "baseline: the customer's request",
        "socket": "live frame at the staff socket",
        "page": "queue page shows the ticket",
    }
    for key, label in labels.items():
        p50, p95, worst = (v * 1000 for v in percentiles(measured[key]))
        verdict = "" if key == "baseline" else ("ok" if p95 < GOAL_MS else "OVER")
        print(f"{label:34} {p50:7.1f} {p95:7.1f} {worst:7.1f}  {verdict}")
    print(f"goal: p95 under {GOAL_MS:.0f} ms (the watcher polls SQL every 250 ms)")


if __name__ == "__main__":
    asyncio.run(main())
