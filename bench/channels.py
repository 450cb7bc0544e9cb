"""Inbound throughput per channel, through each channel's real route, against the Telegram
webhook path in the same run and the same bot process.

One `otklik run` process with Telegram (webhook), a generic HTTP channel, VK and WhatsApp, each
against its in-repo fake running in this process. For each channel, workers each play one user
with one message in flight: the latency is request sent -> the reply arriving at that
channel's fake, and the rate is messages answered a second. Channels run one after another in
rounds, the order rotating each round; each channel's median round is compared with
Telegram's. Run `python bench/channels.py --help`.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.webhook import (  # noqa: E402
    PG_DEFAULT,
    cpu_seconds,
    import_faq,
    questions,
    start_process,
    wait_listening,
)
from examples.http_channel_receiver import Receiver, sign  # noqa: E402
from tests.conftest import free_port  # noqa: E402
from tests.fake_telegram import Call, FakeTelegram  # noqa: E402
from tests.fake_vk import FakeVk, VkCallbacks  # noqa: E402
from tests.fake_whatsapp import FakeWhatsApp, WhatsAppWebhook  # noqa: E402
from tests.pg import drop_schema, fresh_schema  # noqa: E402

TG_TOKEN = "123456:BENCH-token"
TG_SECRET = "bench-secret-for-the-fake-only"
HTTP_SECRET = "bench-http-channel-secret-01"
VK_TOKEN, VK_SECRET, VK_GROUP = "vk-bench-token", "vk-bench-secret-0123", 4242
WA_TOKEN, WA_SECRET, WA_PHONE = "wa-bench-token", "wa-bench-app-secret-01", "1065"


@dataclass
class Run:
    channel: str
    count: int
    seconds: float
    latencies: list[float]
    cpu_seconds: float

    @property
    def rate(self) -> float:
        return self.count / self.seconds

    def ms(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


class Waiter:
    """Futures by user id, resolved when that user's reply reaches a fake."""

    def __init__(self) -> None:
        self.waiting: dict[str, asyncio.Future[float]] = {}

    def arrived(self, user: str) -> None:
        future = self.waiting.get(user)
        if future is not None and not future.done():
            future.set_result(time.perf_counter())


Send = Callable[[aiohttp.ClientSession, str, int, str], Awaitable[int]]


async def drive(
    name: str, send: Send, waiter: Waiter, texts: list[str], n: int, c: int, base: int, pid: int
) -> Run:
    latencies: list[float] = []
    counter = iter(range(n))
    cpu_before = cpu_seconds(pid)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=c)) as http:

        async def worker(number: int) -> None:
            user = str(base + number)
            for i in counter:
                future = asyncio.get_running_loop().create_future()
                waiter.waiting[user] = future
                started = time.perf_counter()
                status = await send(http, user, base * 10 + i, texts[i % len(texts)])
                if status >= 300:
                    raise SystemExit(f"{name}: answered {status}")
                latencies.append(await asyncio.wait_for(future, 30) - started)

        began = time.perf_counter()
        await asyncio.gather(*(worker(k) for k in range(c)))
        elapsed = time.perf_counter() - began
    return Run(name, n, elapsed, latencies, cpu_seconds(pid) - cpu_before)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=500, help="messages per channel run (500)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds over every channel (5)")
    parser.add_argument("-c", "--concurrency", type=int, default=16, help="users in flight (16)")
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--pg-url", default=PG_DEFAULT)
    args = parser.parse_args()
    texts = questions()

    telegram = FakeTelegram()
    telegram.record_calls = False
    await telegram.start()
    vk, wa = FakeVk(VK_TOKEN), FakeWhatsApp(WA_TOKEN, WA_PHONE)
    vk.record = wa.record = False
    await vk.start()
    await wa.start()
    waiter = Waiter()

    def on_telegram(call: Call) -> None:
        if call.method == "sendMessage":
            waiter.arrived(str(call.params["chat_id"]))

    telegram.listeners.append(on_telegram)
    vk.listeners.append(lambda params: waiter.arrived(str(params["peer_id"])))
    wa.listeners.append(lambda body: waiter.arrived(str(body["to"])))
    receiver = Receiver(HTTP_SECRET)

    async def on_http(request: web.Request) -> web.Response:
        response = await receiver.handle(request)
        if receiver.received:
            waiter.arrived(str(receiver.received.pop()["user"]))
        return response

    platform = web.Application()
    platform.router.add_post("/otklik", on_http)
    platform_server = TestServer(platform, host="127.0.0.1")
    await platform_server.start_server()

    port = free_port()
    schema = ""
    with tempfile.TemporaryDirectory() as tmp:
        if args.database == "sqlite":
            url = f"sqlite+aiosqlite:///{tmp}/channels.db"
        else:
            found = await fresh_schema(args.pg_url, f"channels_{os.getpid()}")
            if found is None:
                raise SystemExit("PostgreSQL is not reachable; use --database sqlite")
            url, schema = args.pg_url, found
        env = {
            "OTKLIK__DATABASE__URL": url,
            "OTKLIK__DATABASE__SCHEMA": schema,
            "OTKLIK__HTTP__PORT": str(port),
            "OTKLIK__LOGGING__LEVEL": "ERROR",
            "OTKLIK__TELEGRAM__TOKEN": TG_TOKEN,
            "OTKLIK__TELEGRAM__MODE": "webhook",
            "OTKLIK__TELEGRAM__API_BASE": telegram.base_url,
            "OTKLIK__TELEGRAM__WEBHOOK_URL": f"http://127.0.0.1:{port}/telegram/webhook",
            "OTKLIK__TELEGRAM__WEBHOOK_SECRET": TG_SECRET,
            "OTKLIK__TELEGRAM__SENDS_PER_SECOND": "100000",
            "OTKLIK__CHANNELS__HTTP__SHOP__OUTBOUND_URL": f"http://127.0.0.1:{platform_server.port}/otklik",
            "OTKLIK__CHANNELS__HTTP__SHOP__SECRET": HTTP_SECRET,
            "OTKLIK__CHANNELS__VK__TOKEN": VK_TOKEN,
            "OTKLIK__CHANNELS__VK__GROUP_ID": str(VK_GROUP),
            "OTKLIK__CHANNELS__VK__CONFIRMATION": "bench",
            "OTKLIK__CHANNELS__VK__SECRET": VK_SECRET,
            "OTKLIK__CHANNELS__VK__API_BASE": vk.base_url,
            "OTKLIK__CHANNELS__VK__SENDS_PER_SECOND": "100000",
            "OTKLIK__CHANNELS__WHATSAPP__TOKEN": WA_TOKEN,
            "OTKLIK__CHANNELS__WHATSAPP__PHONE_NUMBER_ID": WA_PHONE,
            "OTKLIK__CHANNELS__WHATSAPP__APP_SECRET": WA_SECRET,
            "OTKLIK__CHANNELS__WHATSAPP__VERIFY_TOKEN": "bench-verify",
            "OTKLIK__CHANNELS__WHATSAPP__API_BASE": wa.base_url,
            "OTKLIK__CHANNELS__WHATSAPP__SENDS_PER_SECOND": "100000",
        }  # measured is handling, not pacing: every channel's own limit is lifted
        await import_faq(env)
        process = start_process([sys.executable, "-m", "bot", "run"], env)
        base = f"http://127.0.0.1:{port}"
        callbacks = VkCallbacks(f"{base}/vk/callback", VK_GROUP, VK_SECRET)
        hook = WhatsAppWebhook(f"{base}/whatsapp/webhook", WA_SECRET, WA_PHONE)

        async def send_telegram(http: aiohttp.ClientSession, user: str, i: int, text: str) -> int:
            update = telegram.message_update(int(user), text, update_id=i + 1)
            headers = {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
            async with http.post(f"{base}/telegram/webhook", json=update, headers=headers) as r:
                return r.status

        async def send_http(http: aiohttp.ClientSession, user: str, i: int, text: str) -> int:
            body = json.dumps({"id": f"m{i}", "user": user, "text": text}).encode()
            headers = {"Content-Type": "application/json", **sign(HTTP_SECRET, body)}
            async with http.post(
                f"{base}/api/v1/channels/shop/messages", data=body, headers=headers
            ) as r:
                return r.status

        async def send_vk(http: aiohttp.ClientSession, user: str, i: int, text: str) -> int:
            async with http.post(callbacks.url, json=callbacks.message(int(user), text)) as r:
                return r.status

        async def send_wa(http: aiohttp.ClientSession, user: str, i: int, text: str) -> int:
            event = hook.text(user, text)
            payload = json.dumps(event, ensure_ascii=False).encode()
            signature = (
                "sha256=" + hmac.new(WA_SECRET.encode(), payload, hashlib.sha256).hexdigest()
            )
            headers = {"Content-Type": "application/json", "X-Hub-Signature-256": signature}
            async with http.post(hook.url, data=payload, headers=headers) as r:
                return r.status

        channels: list[tuple[str, Send, int]] = [
            ("telegram", send_telegram, 1_000_000),
            ("http", send_http, 2_000_000),
            ("vk", send_vk, 3_000_000),
            ("whatsapp", send_wa, 4_000_000),
        ]
        runs: list[Run] = []
        try:
            await wait_listening(port, process)
            for name, send, user_base in channels:  # a short warm-up with other users
                await drive(
                    name,
                    send,
                    waiter,
                    texts,
                    100,
                    args.concurrency,
                    user_base + 900_000,
                    process.pid,
                )
            # Rounds in rotation: the database grows as the run goes on, so no channel is
            # always measured on the biggest one; each channel's median round is compared.
            for round_number in range(args.rounds):
                order = channels[round_number % 4 :] + channels[: round_number % 4]
                for name, send, user_base in order:
                    print(f"round {round_number + 1}: {name} ...", flush=True)
                    base_id = user_base + round_number * 10_000
                    runs.append(
                        await drive(
                            name,
                            send,
                            waiter,
                            texts,
                            args.n,
                            args.concurrency,
                            base_id,
                            process.pid,
                        )
                    )
        finally:
            process.terminate()
            await asyncio.to_thread(process.communicate, timeout=15)
            if schema:
                await drop_schema(args.pg_url, schema)
    await platform_server.close()
    await telegram.close()
    await vk.close()
    await wa.close()

    def median_run(channel: str) -> Run:
        mine = sorted((r for r in runs if r.channel == channel), key=lambda r: r.rate)
        return mine[len(mine) // 2]

    baseline = median_run("telegram").rate
    print(
        f"\n{args.n} messages per run, {args.rounds} rounds, {args.concurrency} users in flight,"
        f" {args.database}; the median round per channel"
        f"\n{'channel':10} {'msgs/s':>8} {'vs telegram':>11} {'p50 ms':>8} {'p99 ms':>8}"
        f" {'CPU ms/msg':>10}  rounds msgs/s"
    )
    for name, _, _ in channels:
        run = median_run(name)
        every = " ".join(f"{r.rate:.0f}" for r in runs if r.channel == name)
        print(
            f"{run.channel:10} {run.rate:8.1f} {run.rate / baseline:10.0%} {run.ms(0.5):8.1f}"
            f" {run.ms(0.99):8.1f} {run.cpu_seconds / run.count * 1000:10.2f}  {every}"
        )


if __name__ == "__main__":
    asyncio.run(main())
