"""Back-pressure under a sustained overload: reply latency with and without `max_backlog`.

Telegram delivers a webhook's updates as fast as the bot answers 200, so a bot that acknowledges
faster than it handles builds a queue, and every reply waits behind it. This script measures
Otklik's handling capacity with a closed loop (as `bench/webhook.py` does), then offers more
than that, open loop, at a fixed rate, once for each `[telegram] max_backlog`. Each update
comes from its own chat, so the reply that closes it is unambiguous; a 503 is counted, not
resent (Telegram would redeliver it after `Retry-After`).

Printed per setting: updates accepted and refused, the latency of accepted updates (POST sent
-> sendMessage at the fake), and how long the queue took to drain
after the load stopped. Run `python bench/backpressure.py --help` for the options.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.webhook import (  # noqa: E402
    PG_DEFAULT,
    SECRET,
    TOKEN,
    drive,
    drive_fresh,
    import_faq,
    otklik_env,
    questions,
    start_process,
    wait_listening,
)
from tests.conftest import free_port  # noqa: E402
from tests.fake_telegram import Call, FakeTelegram  # noqa: E402
from tests.pg import drop_schema, fresh_schema  # noqa: E402

UNBOUNDED = 10_000_000


@dataclass
class Overload:
    backlog_limit: int
    offered: int = 0
    refused: int = 0
    latencies: list[float] = field(default_factory=list)
    drain_seconds: float = 0.0
    lost: int = 0

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def offer(
    fake: FakeTelegram, port: int, texts: list[str], rate: float, seconds: float, result: Overload
) -> None:
    """Open loop: POST `rate` updates a second for `seconds`, whatever the answers take."""
    url = f"http://127.0.0.1:{port}/telegram/webhook"
    sent_at: dict[int, float] = {}
    replied = asyncio.Event()
    accepted: set[int] = set()

    def on_call(call: Call) -> None:
        if call.method != "sendMessage":
            return
        chat = int(call.params["chat_id"])
        started = sent_at.pop(chat, None)
        if started is not None:
            result.latencies.append(time.perf_counter() - started)
            accepted.discard(chat)
            if not accepted:
                replied.set()

    fake.listeners.append(on_call)
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    connector = aiohttp.TCPConnector(limit=1024)
    base_chat = 50_000_000 + result.backlog_limit % 1000 * 100_000
    posts: set[asyncio.Task[None]] = set()
    async with aiohttp.ClientSession(connector=connector) as http:

        async def post(number: int) -> None:
            chat = base_chat + number
            update = fake.message_update(chat, texts[number % len(texts)], update_id=number + 1)
            sent_at[chat] = time.perf_counter()
            accepted.add(chat)
            async with http.post(url, json=update, headers=headers) as resp:
                if resp.status == 503:
                    result.refused += 1
                    sent_at.pop(chat, None)
                    accepted.discard(chat)
                elif resp.status != 200:
                    raise SystemExit(f"webhook answered {resp.status}")

        began = time.perf_counter()
        total = int(rate * seconds)
        for number in range(total):
            due = began + number / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(post(number))
            posts.add(task)
            task.add_done_callback(posts.discard)
        result.offered = total
        await asyncio.gather(*posts)
        stopped = time.perf_counter()
        if accepted:
            replied.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(replied.wait(), 120)
        result.drain_seconds = time.perf_counter() - stopped
        result.lost = len(accepted)
    fake.listeners.remove(on_call)


async def run(
    fake: FakeTelegram,
    texts: list[str],
    database_url: str,
    schema: str,
    backlog_limit: int,
    rate: float | None,
    seconds: float,
) -> tuple[float, float, Overload]:
    """One bot process: warm up, measure capacity closed-loop, then the open-loop overload."""
    port = free_port()
    env = otklik_env(
        database_url,
        port,
        fake.base_url,
        OTKLIK__DATABASE__SCHEMA=schema,
        OTKLIK__TELEGRAM__SENDS_PER_SECOND="100000",
        OTKLIK__TELEGRAM__MAX_BACKLOG=str(backlog_limit),
        OTKLIK__LOGGING__LEVEL="ERROR",
    )
    await import_faq(env)
    process = start_process([sys.executable, "-m", "bot", "run"], env)
    try:
        await wait_listening(port, process)
        closed = await drive_fresh(fake, port, texts, 1500, 64, offset=2_000_000)
        result = Overload(backlog_limit)
        await offer(fake, port, texts, rate or closed.rate * 1.5, seconds, result)
        return closed.rate, closed.percentile(0.99), result
    finally:
        process.terminate()
        await asyncio.to_thread(process.communicate, timeout=15)


async def run_echo(
    fake: FakeTelegram, texts: list[str], rate: float, seconds: float
) -> tuple[float, float, Overload]:
    """The bare aiogram echo bot (no limit of its own) under the same offered load."""
    port = free_port()
    env = {"API_BASE": fake.base_url, "TOKEN": TOKEN, "SECRET": SECRET, "PORT": str(port)}
    process = start_process([sys.executable, str(ROOT / "bench/echo_bot.py")], env)
    try:
        await wait_listening(port, process)
        closed = await drive("echo", fake, port, texts, 1500, 64)
        result = Overload(0)
        await offer(fake, port, texts, rate, seconds, result)
        return closed.rate, closed.percentile(0.99), result
    finally:
        process.terminate()
        await asyncio.to_thread(process.communicate, timeout=15)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20, help="length of the overload (20)")
    parser.add_argument(
        "--rate", type=float, help="updates offered a second (default: 1.5 x measured capacity)"
    )
    parser.add_argument(
        "--limits",
        default=f"64,512,{UNBOUNDED}",
        help=f"max_backlog settings to compare ({UNBOUNDED} = unbounded, the old behaviour)",
    )
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument("--pg-url", default=PG_DEFAULT)
    args = parser.parse_args()
    texts = questions()
    fake = FakeTelegram()
    fake.record_calls = False
    await fake.start()
    rows: list[tuple[str, float, float, float, Overload]] = []
    rate = args.rate
    try:
        for limit in (int(x) for x in args.limits.split(",")):
            schema = ""
            if args.database == "sqlite":
                url = f"sqlite+aiosqlite:////tmp/otklik-bp-{os.getpid()}-{limit}.db"
            else:
                found = await fresh_schema(args.pg_url, f"bp_{os.getpid()}_{limit % 100000}")
                if found is None:
                    raise SystemExit("PostgreSQL is not reachable; use --database sqlite")
                url, schema = args.pg_url, found
            print(f"running: max_backlog {limit} ...", flush=True)
            try:
                capacity, p99, result = await run(
                    fake, texts, url, schema, limit, rate, args.seconds
                )
            finally:
                if schema:
                    await drop_schema(args.pg_url, schema)
                else:
                    os.unlink(url.split("///", 1)[1])
            rate = rate or capacity * 1.5  # every setting gets the same offered load
            label = "unbounded" if limit >= UNBOUNDED else str(limit)
            rows.append((f"otklik, max_backlog {label}", capacity, p99, rate, result))
        assert rate is not None
        print("running: bare aiogram echo bot ...", flush=True)
        capacity, p99, result = await run_echo(fake, texts, rate, args.seconds)
        rows.append(("aiogram echo (no limit)", capacity, p99, rate, result))
    finally:
        await fake.close()
    print(
        "\nclosed loop, 64 in flight: capacity and p99; then open loop at the offered rate:"
        "\nlatency of accepted updates, drain time after the load stops"
    )
    print(
        f"{'run':29} {'cap/s':>6} {'p99 ms':>7} | {'offer/s':>7} {'accepted':>8}"
        f" {'refused':>8} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'drain s':>7} {'lost':>4}"
    )
    for name, capacity, closed_p99, offered_rate, r in rows:
        print(
            f"{name:29} {capacity:6.0f} {closed_p99:7.0f} | {offered_rate:7.0f}"
            f" {r.offered - r.refused:8d} {r.refused:8d} {r.percentile(0.5):7.0f}"
            f" {r.percentile(0.99):7.0f} {r.percentile(1.0):7.0f} {r.drain_seconds:7.1f}"
            f" {r.lost:4d}"
        )


if __name__ == "__main__":
    asyncio.run(main())
