"""Several `otklik run` on one PostgreSQL behind a load balancer: does a second instance help?

Three measurements, each against a baseline taken in the same run:
1. **Webhook throughput** with 1, 2 and 4 instances behind a round-robin balancer (in this
   process, as nginx would stand in front): FAQ questions from 32 chats, one in flight each
   (latency: POST -> the reply at the fake Bot API), every chat's updates spread over the
   instances, so the chat order across instances is exercised too. Printed as a ratio to one
   instance.
2. **Handling only**: the same with the replies held back (`sends_per_second` near zero, so the
   bot spends nothing on sending): updates stored and handled per second, counted in SQL, the
   driver not waiting for replies. Where this stops growing with instances, the database (or
   the machine) is the limit, not sending.
3. **One rate limit across instances**: three instances sharing one bucket for the bot token
   (in Redis, then without Redis in PostgreSQL) send a campaign while all answer questions,
   against a fake Bot API that answers 429 beyond 30 sends in a rolling second. The aggregate
   rate as a share of the cap (goal: at least 95 %) and the 429s (goal: none).

Every instance, the balancer, the fake, the driver and PostgreSQL share this machine's cores
(`nproc` is printed): with 2 cores, more instances cannot add CPU, so the ratios say what the
coordination costs rather than how a cluster would scale. `python bench/scale.py --help`.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import subprocess
import sys
import time
import uuid
from collections import deque
from pathlib import Path

import aiohttp
from aiohttp import web
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.webhook import (  # noqa: E402
    PG_DEFAULT,
    SECRET,
    TOKEN,
    Result,
    drive,
    drive_fresh,
    drive_paced,
    import_faq,
    questions,
    start_process,
    wait_listening,
)
from tests.conftest import free_port  # noqa: E402
from tests.fake_telegram import FakeTelegram  # noqa: E402
from tests.pg import drop_schema, fresh_schema  # noqa: E402

REDIS_DEFAULT = "redis://127.0.0.1:6379/0"
CHATS = 500  # returning customers the handling-only runs cycle through


class Balancer:
    """Round-robin over the instances' webhook routes, keeping connections open (nginx's
    `upstream` with keepalive does the same)."""

    def __init__(self, ports: list[int]) -> None:
        self._targets = itertools.cycle(ports)
        self._http: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self.port = free_port()

    async def start(self) -> None:
        self._http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256))
        app = web.Application()
        app.router.add_post("/telegram/webhook", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._http is not None
        url = f"http://127.0.0.1:{next(self._targets)}/telegram/webhook"
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower().startswith("x-")}
        headers["Content-Type"] = "application/json"
        async with self._http.post(url, data=body, headers=headers) as resp:
            return web.Response(status=resp.status, body=await resp.read())

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._http is not None:
            await self._http.close()


class Instances:
    """`count` real `otklik run` processes on one schema (the first migrates it)."""

    def __init__(self, pg_url: str, schema: str, api_base: str, extra: dict[str, str]) -> None:
        self.env = {
            "OTKLIK__DATABASE__URL": pg_url,
            "OTKLIK__DATABASE__SCHEMA": schema,
            "OTKLIK__TELEGRAM__TOKEN": extra.pop("token", TOKEN),
            "OTKLIK__TELEGRAM__MODE": "webhook",
            "OTKLIK__TELEGRAM__API_BASE": api_base,
            "OTKLIK__TELEGRAM__WEBHOOK_SECRET": SECRET,
            # Each instance's own below; the CLI's one-shot commands check the config only.
            "OTKLIK__TELEGRAM__WEBHOOK_URL": "http://127.0.0.1:8080/telegram/webhook",
            "OTKLIK__LOGGING__LEVEL": "WARNING",
            **extra,
        }
        self.processes: list[subprocess.Popen[bytes]] = []
        self.ports: list[int] = []

    async def faq_import(self) -> None:
        await import_faq(self.env)

    async def start(self, count: int) -> None:
        for number in range(count):
            port = free_port()
            env = {
                **self.env,
                "OTKLIK__HTTP__PORT": str(port),
                "OTKLIK__TELEGRAM__WEBHOOK_URL": f"http://127.0.0.1:{port}/telegram/webhook",
            }
            process = start_process([sys.executable, "-m", "bot", "run"], env)
            self.processes.append(process)
            self.ports.append(port)
            if number == 0:  # it migrates the schema; the others start on a ready one
                await wait_listening(port, process)
        for port, process in zip(self.ports, self.processes, strict=True):
            await wait_listening(port, process)

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                _, err = process.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                continue
            if process.returncode not in (0, -15):
                print(err.decode()[-1500:], file=sys.stderr)


async def warm(fake: FakeTelegram, ports: list[int], texts: list[str]) -> None:
    """Each instance learns the questions' vectors, as bench/webhook.py does for one."""
    for number, port in enumerate(ports):
        await drive_paced(fake, port, list(dict.fromkeys(texts)), 8.0, 3_000_000 + number * 1000)


async def done_count(pg_url: str, schema: str) -> int:
    engine = create_async_engine(pg_url, connect_args={"server_settings": {"search_path": schema}})
    try:
        async with engine.connect() as conn:
            found = await conn.scalar(
                text("SELECT count(*) FROM inbound_events WHERE status = 'done'")
            )
            return int(found or 0)
    finally:
        await engine.dispose()


async def wait_done(pg_url: str, schema: str, count: int) -> None:
    deadline = time.perf_counter() + 300  # a stall, not a speed
    while await done_count(pg_url, schema) < count:
        if time.perf_counter() > deadline:
            raise SystemExit("handling stalled")
        await asyncio.sleep(0.05)


async def post_all(
    port: int, fake: FakeTelegram, texts: list[str], n: int, c: int, first_id: int
) -> None:
    """`n` updates, `c` at a time, as fast as the balancer takes them, not waiting for
    replies; from CHATS chats in turn, so one chat's next update comes long after its last
    (one chat's burst spread over the instances is the order test's case, not this one's)."""
    url = f"http://127.0.0.1:{port}/telegram/webhook"
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    counter = iter(range(n))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=c)) as http:

        async def worker() -> None:
            for i in counter:
                update = fake.message_update(
                    20_000_000 + i % CHATS, texts[i % len(texts)], update_id=first_id + i
                )
                while True:
                    async with http.post(url, json=update, headers=headers) as resp:
                        await resp.read()
                    if resp.status != 503:
                        break
                    await asyncio.sleep(0.05)  # back-pressure: Telegram sends it again

        await asyncio.gather(*(worker() for _ in range(c)))


async def throughput(
    fake: FakeTelegram, pg_url: str, count: int, texts: list[str], n: int, c: int, held: bool
) -> tuple[float, str]:
    schema = await fresh_schema(pg_url, f"scale_{os.getpid()}_{count}_{int(held)}")
    if schema is None:
        raise SystemExit(f"PostgreSQL is not reachable at {pg_url}")
    # Held: one send in a hundred seconds, so the replies wait in the outbox, unsent.
    rate = "0.01" if held else "100000"
    instances = Instances(
        pg_url, schema, fake.base_url, {"OTKLIK__TELEGRAM__SENDS_PER_SECOND": rate}
    )
    balancer: Balancer | None = None
    try:
        await instances.faq_import()
        await instances.start(count)
        balancer = Balancer(instances.ports)
        await balancer.start()
        if not held:
            await warm(fake, instances.ports, texts)
            await drive("warm-up", fake, balancer.port, texts, min(200, n), c)
            # Fresh update ids: the warm-up's would be redeliveries, dropped unanswered.
            result: Result = await drive_fresh(fake, balancer.port, texts, n, c, 1_000_000 * count)
            return result.rate, f"p50 {result.percentile(0.5):.0f} ms"
        # Warm-up: each chat's first contact (a new customer), and each instance's FAQ.
        await post_all(balancer.port, fake, texts, CHATS, c, first_id=4_000_000)
        await wait_done(pg_url, schema, CHATS)
        before = await done_count(pg_url, schema)
        started = time.perf_counter()
        await post_all(balancer.port, fake, texts, n, c, first_id=5_000_000)
        await wait_done(pg_url, schema, before + n)
        return n / (time.perf_counter() - started), ""
    finally:
        if balancer is not None:
            await balancer.close()
        instances.stop()
        await drop_schema(pg_url, schema)


async def campaign(pg_url: str, redis_url: str, recipients: int, cap: float) -> None:
    """`redis_url` empty: the instances share the rate through PostgreSQL instead."""
    # Three instances, one bucket for the token, a fake that refuses beyond `cap`; the leader
    # sends the campaign while all three answer questions (10 a second through the balancer),
    # so every instance takes turns from the one bucket.
    port = free_port()
    fake_args = [sys.executable, "-m", "tests.fake_telegram", "--port", str(port)]
    fake_args += ["--rate-limit", str(cap)]
    fake_process = await asyncio.create_subprocess_exec(
        *fake_args, cwd=ROOT, stdout=asyncio.subprocess.PIPE
    )
    assert fake_process.stdout is not None
    base_url = (await fake_process.stdout.readline()).decode().strip()
    schema = await fresh_schema(pg_url, f"scale_campaign_{os.getpid()}")
    if schema is None:
        raise SystemExit(f"PostgreSQL is not reachable at {pg_url}")
    # A token of its own: the Redis bucket is keyed by it, so no earlier run's grants count.
    token = f"{uuid.uuid4().int % 10**9}:bench-{uuid.uuid4().hex[:12]}"
    instances = Instances(
        pg_url,
        schema,
        base_url,
        {
            "token": token,
            "OTKLIK__REDIS__URL": redis_url,  # empty: through PostgreSQL
            "OTKLIK__TELEGRAM__SENDS_PER_SECOND": str(cap),
            "OTKLIK__CAMPAIGNS__RATE_PER_SECOND": str(cap),
        },
    )
    balancer: Balancer | None = None
    questions_task: asyncio.Task[None] | None = None
    try:
        await instances.faq_import()
        await seed_campaign(pg_url, schema, recipients)
        await instances.start(3)
        balancer = Balancer(instances.ports)
        await balancer.start()
        questions_task = asyncio.create_task(ask_meanwhile(balancer.port, 10.0))
        deadline = time.perf_counter() + recipients / cap * 3 + 60
        while await delivered(pg_url, schema) == 0:  # the window opens at the first send
            if time.perf_counter() > deadline:
                raise SystemExit("the campaign never started")
            await asyncio.sleep(0.05)
        first, calls_first = time.perf_counter(), await sends(base_url)
        while (sent := await delivered(pg_url, schema)) < recipients:
            if time.perf_counter() > deadline:
                raise SystemExit(f"campaign stalled at {sent} of {recipients}")
            await asyncio.sleep(0.05)
        last, calls_last = time.perf_counter(), await sends(base_url)
        rate = (calls_last - calls_first) / (last - first)
        campaign_rate = recipients / (last - first)
        async with aiohttp.ClientSession() as http, http.get(f"{base_url}/_fake/stats") as resp:
            refused = (await resp.json())["rate_limited"]
        where = "one Redis bucket" if redis_url else "one PostgreSQL row (no Redis)"
        print(
            f"\ncampaign to {recipients} customers while 3 instances answer questions, {where},"
            f" cap {cap:g}/s: {rate:.1f} sends/s aggregate ({rate / cap:.0%} of the cap; the"
            f" campaign's own {campaign_rate:.1f}/s), 429s: {refused}"
        )
    finally:
        if questions_task is not None:
            questions_task.cancel()
            await asyncio.gather(questions_task, return_exceptions=True)
        if balancer is not None:
            await balancer.close()
        instances.stop()
        fake_process.terminate()
        await fake_process.wait()
        await drop_schema(pg_url, schema)


async def ask_meanwhile(port: int, per_second: float) -> None:
    """Questions from many chats at a steady rate, until cancelled."""
    url = f"http://127.0.0.1:{port}/telegram/webhook"
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    texts = questions()
    maker = FakeTelegram()  # only its update builder: nothing is served
    async with aiohttp.ClientSession() as http:
        for number in itertools.count():
            update = maker.message_update(
                30_000_000 + number % 500, texts[number % len(texts)], update_id=number + 1
            )
            async with http.post(url, json=update, headers=headers) as resp:
                await resp.read()
            await asyncio.sleep(1 / per_second)


async def sends(base_url: str) -> int:
    async with aiohttp.ClientSession() as http, http.get(f"{base_url}/_fake/stats") as resp:
        calls = (await resp.json())["calls"]
        return int(calls.get("sendMessage", 0))


async def seed_campaign(pg_url: str, schema: str, recipients: int) -> None:
    from bot.campaigns import service
    from storage.db import create_session_pool
    from storage.models import utcnow
    from storage.repositories.customers import CustomerRepository

    engine = create_async_engine(pg_url, connect_args={"server_settings": {"search_path": schema}})
    try:
        async with create_session_pool(engine)() as session, session.begin():
            customers = CustomerRepository(session)
            for number in range(recipients):
                await customers.get_or_create("telegram", str(70_000 + number), f"C{number}", "ru")
            await service.create_survey(session, "nps", "nps", False, "{}")
            await service.create_campaign(
                session, name="scale", survey_name="nps", run_at=utcnow(), quiet="off"
            )
    finally:
        await engine.dispose()


async def delivered(pg_url: str, schema: str) -> int:
    engine = create_async_engine(pg_url, connect_args={"server_settings": {"search_path": schema}})
    try:
        async with engine.connect() as conn:
            found = await conn.scalar(text("SELECT count(*) FROM deliveries WHERE status = 'sent'"))
            return int(found or 0)
    finally:
        await engine.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=2000, help="updates per run (2000)")
    parser.add_argument("-c", "--concurrency", type=int, default=32, help="chats in flight (32)")
    parser.add_argument("--instances", default="1,2,4", help="instance counts to compare (1,2,4)")
    parser.add_argument(
        "--recipients", type=int, default=900, help="campaign recipients (900: ~40 s at 30/s)"
    )
    parser.add_argument("--cap", type=float, default=30.0, help="the fake's sends a second (30)")
    parser.add_argument("--pg-url", default=PG_DEFAULT)
    parser.add_argument("--redis-url", default=REDIS_DEFAULT)
    parser.add_argument(
        "--skip", default="", help="parts to leave out: webhook, handled, campaign (comma list)"
    )
    args = parser.parse_args()
    counts = [int(x) for x in args.instances.split(",")]
    skip = set(filter(None, args.skip.split(",")))
    texts = questions()
    print(f"{os.cpu_count()} cores; {args.n} updates a run, {args.concurrency} chats in flight")
    fake = FakeTelegram()
    fake.record_calls = False
    await fake.start()
    try:
        for held, part in ((False, "webhook"), (True, "handled")):
            if part in skip:
                continue
            rows: deque[tuple[int, float, str]] = deque()
            for count in counts:
                print(f"running: {part}, {count} instance(s) ...", flush=True)
                rate, note = await throughput(
                    fake, args.pg_url, count, texts, args.n, args.concurrency, held
                )
                rows.append((count, rate, note))
            base = rows[0][1]
            title = (
                "webhook to reply (FAQ questions)"
                if not held
                else "handled in SQL, replies held back (sending costs nothing)"
            )
            print(f"\n{title}:")
            print(f"{'instances':>10} {'updates/s':>10} {'vs 1':>6}  note")
            for count, rate, note in rows:
                print(f"{count:>10} {rate:10.1f} {rate / base:6.0%}  {note}")
    finally:
        await fake.close()
    if "campaign" not in skip:
        for redis_url in (args.redis_url, ""):
            print("running: campaign with 3 instances ...", flush=True)
            await campaign(args.pg_url, redis_url, args.recipients, args.cap)


if __name__ == "__main__":
    asyncio.run(main())
