"""A survey campaign to 10,000 customers spread over Telegram, VK and WhatsApp, each channel
held to its own platform's rate limit, with the rate each achieved.

Runs Otklik's real CampaignSender and each channel's real sender in this process, on SQLite in
a temporary directory (or PostgreSQL), against the in-repo fakes, which enforce the platforms'
limits and answer their real errors past them: Telegram's 30 a second per token (429), VK's
20 a second per community (error 6), WhatsApp's 80 a second per number (130429). Otklik is set
to its defaults (Telegram campaigns at 25 of 30, VK and WhatsApp campaigns at four fifths of
`sends_per_second`). Sends are timed where they arrive at the fakes; the yardstick in the same
run is the rate each channel was configured to, so "of configured" near 100 % with no limit
errors is the goal. `python bench/campaign_channels.py --help` for the options.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert  # noqa: E402

from bench.webhook import PG_DEFAULT  # noqa: E402
from bot.app import create_services, launch_campaigns  # noqa: E402
from bot.campaigns import service  # noqa: E402
from bot.core.delivery.rate_limit import CAMPAIGN_SHARE  # noqa: E402
from storage import migrate  # noqa: E402
from storage.models import ChannelIdentity, Customer, WhatsAppContact  # noqa: E402
from tests.conftest import TOKEN, make_settings  # noqa: E402
from tests.fake_telegram import Call, FakeTelegram  # noqa: E402
from tests.fake_vk import FakeVk  # noqa: E402
from tests.fake_whatsapp import FakeWhatsApp  # noqa: E402
from tests.pg import drop_schema, fresh_schema  # noqa: E402
from tests.rates import max_in_a_second  # noqa: E402

CHANNELS = ("telegram", "vk", "whatsapp")
PLATFORM_LIMITS = {"telegram": 30.0, "vk": 20.0, "whatsapp": 80.0}


async def seed(services, split: dict[str, int], now: datetime) -> None:  # type: ignore[no-untyped-def]
    async with services.session_pool() as session, session.begin():
        total = sum(split.values())
        channel_of = [c for c in CHANNELS for _ in range(split[c])]
        await session.execute(
            insert(Customer),
            [
                {
                    "display_name": f"c{n}",
                    "language": "ru",
                    "last_channel": channel_of[n],
                    "pending_action": None,
                    "unreachable": False,
                    "surveys_opted_out": False,
                    "timezone": "",
                    "tags": "",
                }
                for n in range(total)
            ],
        )
        await session.execute(
            insert(ChannelIdentity),
            [
                {"channel": channel_of[n], "external_id": str(700_000 + n), "customer_id": n + 1}
                for n in range(total)
            ],
        )
        # WhatsApp customers who wrote today: inside the 24-hour window, free-form survey.
        contacts = [
            {"wa_id": str(700_000 + n), "last_inbound_at": now, "offered": "[]"}
            for n in range(total)
            if channel_of[n] == "whatsapp"
        ]
        if contacts:
            await session.execute(insert(WhatsAppContact), contacts)
        await service.create_survey(session, "nps", "nps", False, "{}")
        await service.create_campaign(
            session, name="bench", survey_name="nps", run_at=now, quiet="off"
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=10_000, help="customers (10000)")
    parser.add_argument(
        "--split",
        default="1,1,1",
        help="shares of customers on telegram,vk,whatsapp (1,1,1: a third each)",
    )
    parser.add_argument(
        "--vk-rate",
        type=float,
        default=20.0,
        help="[channels.vk] sends_per_second (20, the default)",
    )
    parser.add_argument(
        "--whatsapp-rate",
        type=float,
        default=20.0,
        help="[channels.whatsapp] sends_per_second (20, the default; Meta allows 80)",
    )
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--pg-url", default=PG_DEFAULT)
    args = parser.parse_args()
    shares = [float(s) for s in args.split.split(",")]
    if len(shares) != 3 or min(shares) < 0 or sum(shares) <= 0:
        parser.error("--split takes three shares, e.g. 2,1,1")
    split = {c: int(args.n * s / sum(shares)) for c, s in zip(CHANNELS, shares, strict=True)}
    split["telegram"] += args.n - sum(split.values())

    telegram = FakeTelegram()
    telegram.record_calls = False
    telegram.rate_limit = PLATFORM_LIMITS["telegram"]
    vk, wa = FakeVk("vk-bench-token"), FakeWhatsApp("wa-bench-token", "1065")
    vk.record = wa.record = False
    vk.rate.limit, wa.rate.limit = PLATFORM_LIMITS["vk"], PLATFORM_LIMITS["whatsapp"]
    for fake in (telegram, vk, wa):
        await fake.start()
    arrived: dict[str, list[float]] = defaultdict(list)

    def on_telegram(call: Call) -> None:
        if call.method == "sendMessage":
            arrived["telegram"].append(time.monotonic())

    telegram.listeners.append(on_telegram)
    vk.listeners.append(lambda params: arrived["vk"].append(time.monotonic()))
    wa.listeners.append(lambda body: arrived["whatsapp"].append(time.monotonic()))

    now = datetime.now(UTC)
    schema = ""
    with tempfile.TemporaryDirectory() as tmp:
        if args.database == "sqlite":
            url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        else:
            found = await fresh_schema(args.pg_url, f"campaign_channels_{os.getpid()}")
            if found is None:
                raise SystemExit("PostgreSQL is not reachable; use --database sqlite")
            url, schema = args.pg_url, found
        settings = make_settings(
            database={"url": url, "schema": schema},
            telegram={"token": TOKEN, "mode": "polling", "api_base": telegram.base_url},
            scheduler={"enabled": False},
            channels={
                "vk": {
                    "token": "vk-bench-token",
                    "group_id": 1,
                    "confirmation": "c",
                    "secret": "vk-bench-secret-0123",
                    "api_base": vk.base_url,
                    "sends_per_second": args.vk_rate,
                },
                "whatsapp": {
                    "token": "wa-bench-token",
                    "phone_number_id": "1065",
                    "app_secret": "wa-bench-app-secret-01",
                    "verify_token": "bench-verify",
                    "api_base": wa.base_url,
                    "sends_per_second": args.whatsapp_rate,
                },
            },
        )
        configured = {
            "telegram": settings.campaigns.rate_per_second,
            "vk": args.vk_rate * CAMPAIGN_SHARE,
            "whatsapp": args.whatsapp_rate * CAMPAIGN_SHARE,
        }
        services = create_services(settings, clock=lambda: datetime.now(UTC))
        try:
            await migrate.upgrade(services.engine)
            print(f"seeding {args.n} customers: {split} ...", flush=True)
            await seed(services, split, now)
            for channel in services.channels:
                await channel.start()
            slowest = max(split[c] / configured[c] for c in CHANNELS if split[c])
            print(f"sending (about {slowest:.0f} s at the configured rates) ...", flush=True)
            began = time.monotonic()
            launched = await launch_campaigns(services)
            progress = asyncio.create_task(report_progress(arrived, split, began))
            await services.campaigns.run_until_idle()
            elapsed = time.monotonic() - began
            progress.cancel()
        finally:
            for channel in services.channels:
                await channel.stop()
            await services.engine.dispose()
            if schema:
                await drop_schema(args.pg_url, schema)
    for fake in (telegram, vk, wa):
        await fake.close()
    refused = {
        "telegram": telegram.rate_limited,
        "vk": vk.rate.refused,
        "whatsapp": wa.rate.refused,
    }
    print(
        f"\n{launched} queued, {sum(len(t) for t in arrived.values())} delivered in "
        f"{elapsed:.1f} s on {args.database}; rates timed where the sends arrive"
        f"\n{'channel':9} {'customers':>9} {'delivered':>9} {'platform':>8} {'configured':>10}"
        f" {'achieved':>8} {'of configured':>13} {'max in 1 s':>10} {'limit errors':>12}"
    )
    for channel in CHANNELS:
        times = arrived[channel]
        span = (max(times) - min(times)) if len(times) > 1 else 0.0
        achieved = (len(times) - 1) / span if span else 0.0
        print(
            f"{channel:9} {split[channel]:9} {len(times):9} {PLATFORM_LIMITS[channel]:7.0f}/s"
            f" {configured[channel]:9.1f}/s {achieved:7.1f}/s"
            f" {achieved / configured[channel]:13.1%} {max_in_a_second(times):10}"
            f" {refused[channel]:12}"
        )


async def report_progress(
    arrived: dict[str, list[float]], split: dict[str, int], began: float
) -> None:
    while True:
        await asyncio.sleep(15)
        done = ", ".join(f"{c} {len(arrived[c])}/{split[c]}" for c in CHANNELS)
        print(f"  {time.monotonic() - began:5.0f} s: {done}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
