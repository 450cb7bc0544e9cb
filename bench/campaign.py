"""Campaign delivery rate against the fake Bot API: with Telegram's 30 messages/s cap enforced
(goal: ≥ 95 % of it and no 429), and with no cap (goal: ≥ 1,000 messages/s), beside the
same survey message sent through aiogram alone with no database (the baseline).

Runs Otklik's real CampaignSender and TelegramSender (aiogram Bot over HTTP) in this process,
on SQLite in a temporary directory; the fake runs in a process of its own (as Telegram would be
elsewhere), and its counts of calls and 429s are read from it at the end.
`python bench/campaign.py --help` for the options.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert  # noqa: E402

from bot.app import create_services, launch_campaigns  # noqa: E402
from bot.campaigns import service  # noqa: E402
from bot.campaigns.surveys import survey_reply  # noqa: E402
from bot.channels.telegram.config import TelegramConfig  # noqa: E402
from bot.channels.telegram.sender import render  # noqa: E402
from bot.channels.telegram.setup import create_bot  # noqa: E402
from storage import migrate  # noqa: E402
from storage.models import ChannelIdentity, Customer  # noqa: E402
from tests.conftest import TOKEN, free_port, make_settings  # noqa: E402


async def start_fake(cap: float | None) -> tuple[asyncio.subprocess.Process, str]:
    port = free_port()
    args = [sys.executable, "-m", "tests.fake_telegram", "--port", str(port)]
    if cap:
        args += ["--rate-limit", str(cap)]
    process = await asyncio.create_subprocess_exec(*args, cwd=ROOT, stdout=asyncio.subprocess.PIPE)
    assert process.stdout is not None
    base_url = (await process.stdout.readline()).decode().strip()
    if not base_url.startswith("http"):
        raise SystemExit("the fake Bot API did not start")
    return process, base_url


async def fake_stats(base_url: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, http.get(f"{base_url}/_fake/stats") as response:
        stats: dict[str, Any] = await response.json()
        return stats


async def run(recipients: int, rate: float, cap: float | None, label: str) -> None:
    fake, base_url = await start_fake(cap)
    with tempfile.TemporaryDirectory() as tmp:
        settings = make_settings(
            database={"url": f"sqlite+aiosqlite:///{tmp}/bench.db"},
            telegram={"token": TOKEN, "mode": "polling", "api_base": base_url},
            campaigns={"rate_per_second": rate},
            scheduler={"enabled": False},
        )
        services = create_services(settings, clock=lambda: datetime.now(UTC))
        await migrate.upgrade(services.engine)
        async with services.session_pool() as session, session.begin():
            await session.execute(
                insert(Customer),
                [
                    {
                        "display_name": f"c{n}",
                        "language": "ru",
                        "last_channel": "telegram",
                        "pending_action": None,
                        "unreachable": False,
                        "surveys_opted_out": False,
                        "timezone": "",
                        "tags": "",
                    }
                    for n in range(recipients)
                ],
            )
            await session.execute(
                insert(ChannelIdentity),
                [
                    {"channel": "telegram", "external_id": str(100_000 + n), "customer_id": n + 1}
                    for n in range(recipients)
                ],
            )
            await service.create_survey(session, "nps", "nps", False, "{}")
            await service.create_campaign(
                session, name="bench", survey_name="nps", run_at=datetime.now(UTC), quiet="off"
            )
        started = time.perf_counter()
        await launch_campaigns(services)
        launched = time.perf_counter() - started
        started = time.perf_counter()
        while await services.campaigns.run_once():
            pass
        elapsed = time.perf_counter() - started
        await services.engine.dispose()
        for channel in services.channels:
            await channel.stop()
    stats = await fake_stats(base_url)
    fake.terminate()
    await fake.wait()
    sent = int(stats["calls"].get("sendMessage", 0))
    achieved = recipients / elapsed
    cap_text = f"{cap:.0f}/s" if cap else "none"
    share = f"{achieved / cap:6.1%}" if cap else "     —"
    print(
        f"{label:34} cap {cap_text:>6}  configured {rate or 'no limit'!s:>8}  "
        f"{recipients} sent in {elapsed:6.1f} s = {achieved:7.1f}/s  of cap {share}  "
        f"429s {stats['rate_limited']}  sendMessage calls {sent}  (launch {launched:.2f} s)"
    )


async def aiogram_alone(recipients: int, concurrency: int = 64) -> None:
    """The baseline: the same survey message sent through aiogram's typed API with no database
    and no pacing, as fast as 64 workers go. Otklik's bulk sender posts JSON instead."""
    fake, base_url = await start_fake(None)
    bot = create_bot(TelegramConfig(token=TOKEN, api_base=base_url))
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(recipients):
        queue.put_nowait(n)

    async def worker() -> None:
        while not queue.empty():
            n = queue.get_nowait()
            ((text, markup),) = render(survey_reply("nps", {}, "ru", False, n + 1))
            await bot.send_message(100_000 + n, text, parse_mode="HTML", reply_markup=markup)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    await bot.session.close()
    stats = await fake_stats(base_url)
    fake.terminate()
    await fake.wait()
    print(
        f"{'baseline: aiogram alone, no DB':34} cap   none  configured        —  "
        f"{recipients} sent in {elapsed:6.1f} s = {recipients / elapsed:7.1f}/s  of cap      —  "
        f"429s {stats['rate_limited']}  sendMessage calls {stats['calls'].get('sendMessage', 0)}"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=10_000, help="recipients (10000)")
    parser.add_argument("--capped-n", type=int, help="recipients for the capped runs (default -n)")
    args = parser.parse_args()
    capped = args.capped_n or args.n
    await run(capped, 25.0, 30.0, "default rate, Telegram cap")
    await run(capped, 29.4, 30.0, "rate 98% of cap, Telegram cap")
    await run(args.n, 0.0, None, "no limit (paid broadcast)")
    await aiogram_alone(args.n)


if __name__ == "__main__":
    asyncio.run(main())
