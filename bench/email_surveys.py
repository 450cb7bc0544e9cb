"""Email surveys: campaign emails rendered and handed to a local SMTP server per second (goal:
at least 200/s, so the provider's rate is the limit, never Otklik's), beside the same message
sent with aiosmtplib alone over as many connections (the ceiling); and the survey page's
requests per second and p95 under concurrent clients, beside /healthz in the same run.

The SMTP server (aiosmtpd's Sink) and the bot (`otklik run`) are processes of their own; the
campaign sender runs in this one, on SQLite in a temporary directory, with the real
CampaignSender, EmailSender and SMTP pool. `python bench/email_surveys.py --help` for the
options. (Not `bench/email.py`: run as a script, a file of that name here stands in for the
standard library's `email` package, for every benchmark in this folder.)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import aiosmtplib

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert  # noqa: E402

from bot.app import create_services, launch_campaigns  # noqa: E402
from bot.campaigns import service  # noqa: E402
from bot.campaigns.surveys import survey_reply  # noqa: E402
from bot.channels.email.render import Envelope, SurveyLinks, render  # noqa: E402
from bot.config import LinksConfig  # noqa: E402
from bot.links.signing_key import link_signer  # noqa: E402
from storage import migrate  # noqa: E402
from storage.models import ChannelIdentity, Customer  # noqa: E402
from tests.conftest import free_port, make_settings  # noqa: E402

SENDER = "surveys@bench.example"


async def start_sink() -> tuple[asyncio.subprocess.Process, int]:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}",
        "-c", "aiosmtpd.handlers.Sink", cwd=ROOT,
    )  # fmt: skip
    for _ in range(100):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return process, port
        except OSError:
            await asyncio.sleep(0.1)
    raise SystemExit("the SMTP sink did not start")


async def baseline(port: int, count: int, connections: int) -> float:
    """The same survey email, rendered once, sent with aiosmtplib alone: the ceiling."""
    links = SurveyLinks(page=lambda d: f"http://x/s/d.{d}", unsubscribe=lambda d: f"http://x/u/{d}")
    reply = survey_reply("nps", {}, "ru", False, 1)
    envelope = Envelope(SENDER, "c@example.org", SENDER, "ru", datetime.now(UTC), "bench.example")
    data = render(reply, envelope, links).as_bytes()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(count):
        queue.put_nowait(n)

    async def worker() -> None:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False)
        await client.connect()
        while not queue.empty():
            n = queue.get_nowait()
            await client.sendmail(SENDER, [f"c{n}@example.org"], data)
        await client.quit()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    return count / (time.perf_counter() - started)


async def campaign(port: int, count: int, connections: int, tmp: str) -> float:
    settings = make_settings(
        database={"url": f"sqlite+aiosqlite:///{tmp}/email.db"},
        scheduler={"enabled": False},
        email={
            "smtp_url": f"smtp://127.0.0.1:{port}",
            "from_address": f"Bench <{SENDER}>",
            "support_address": "help@bench.example",
            "rate_per_minute": 10_000_000.0,  # the provider's limit is not what is measured
            "connections": connections,
        },
    )
    services = create_services(settings, clock=lambda: datetime.now(UTC))
    await migrate.upgrade(services.engine)
    async with services.session_pool() as session, session.begin():
        await session.execute(
            insert(Customer),
            [
                {"display_name": f"c{n}", "language": "ru", "last_channel": "email", "tags": ""}
                for n in range(count)
            ],
        )
        await session.execute(
            insert(ChannelIdentity),
            [
                {"channel": "email", "external_id": f"c{n}@example.org", "customer_id": n + 1}
                for n in range(count)
            ],
        )
        await service.create_survey(session, "nps", "nps", False, "{}")
        await service.create_campaign(
            session,
            name="bench",
            survey_name="nps",
            run_at=datetime.now(UTC),
            quiet="off",
            audience='{"channel": "email"}',
        )
    for channel in services.channels:
        await channel.start()  # the email channel reads its links' signing key
    await launch_campaigns(services)
    started = time.perf_counter()
    while await services.campaigns.run_once():
        pass
    elapsed = time.perf_counter() - started
    for channel in services.channels:
        await channel.stop()
    await services.engine.dispose()
    return count / elapsed


async def page_load(url: str, clients: int, seconds: float) -> tuple[float, float, int]:
    """Requests per second, p95 in ms and errors: `clients` loops GETting `url`."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def client() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                began = time.perf_counter()
                async with http.get(url) as resp:
                    await resp.read()
                    if resp.status != 200:
                        errors += 1
                latencies.append(time.perf_counter() - began)

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        elapsed = time.perf_counter() - started
    p95 = statistics.quantiles(latencies, n=20)[-1] * 1000 if len(latencies) > 20 else 0.0
    return len(latencies) / elapsed, p95, errors


async def pages(clients: int, seconds: float, tmp: str) -> list[tuple[str, float, float, int]]:
    database = f"sqlite+aiosqlite:///{tmp}/pages.db"
    port = free_port()
    env = {
        **os.environ,
        "OTKLIK__DATABASE__URL": database,
        "OTKLIK__HTTP__PORT": str(port),
        "OTKLIK__LOGGING__LEVEL": "WARNING",
        "OTKLIK__SCHEDULER__ENABLED": "false",
        # Every client is 127.0.0.1 here: the per-client limit is not what is measured.
        "OTKLIK__LINKS__BURST": "1000000",
        "OTKLIK__LINKS__REQUESTS_PER_MINUTE": "1e9",
    }
    settings = make_settings(database={"url": database})
    services = create_services(settings)
    await migrate.upgrade(services.engine)
    async with services.session_pool() as session, session.begin():
        survey = await service.create_survey(session, "nps", "nps", False, "{}")
        survey_id = survey.id
    signer = await link_signer(services.session_pool, LinksConfig())
    await services.engine.dispose()
    token = signer.sign("s", (survey_id,), datetime.now(UTC) + timedelta(days=1))
    bot = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", cwd=ROOT, env=env
    )
    try:
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as http:
            for _ in range(300):
                try:
                    async with http.get(f"{base}/healthz") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        results = []
        for _round in range(2):
            for name, path in (("/healthz", "/healthz"), ("survey page", f"/s/{token}?score=9")):
                rate, p95, errors = await page_load(base + path, clients, seconds)
                results.append((name, rate, p95, errors))
        return results
    finally:
        bot.terminate()
        await asyncio.wait_for(bot.wait(), 15)


async def main(args: argparse.Namespace) -> None:
    sink, port = await start_sink()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            ceiling = await baseline(port, args.n, args.connections)
            sent = await campaign(port, args.n, args.connections, tmp)
            loads = await pages(args.clients, args.seconds, tmp)
    finally:
        sink.terminate()
        await sink.wait()
    print(f"\n{args.n} campaign emails over {args.connections} SMTP connections")
    print(f"{'run':34} {'emails/s':>9}")
    print(f"{'aiosmtplib alone (the ceiling)':34} {ceiling:9.0f}")
    print(f"{'otklik campaign (render + send)':34} {sent:9.0f}   {sent / ceiling:.0%} of it")
    print(f"\n{args.clients} concurrent clients, {args.seconds:.0f} s a run, two rounds")
    print(f"{'run':34} {'req/s':>9} {'p95 ms':>8} {'errors':>7}")
    for name, rate, p95, errors in loads:
        print(f"{name:34} {rate:9.0f} {p95:8.1f} {errors:7d}")
    goal = "meets" if sent >= 200 else "MISSES"
    print(f"\ncampaign emails: {sent:.0f}/s ({goal} the goal of 200/s)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=2000, help="campaign emails (2000)")
    parser.add_argument("--connections", type=int, default=4, help="SMTP connections (4)")
    parser.add_argument("--clients", type=int, default=50, help="page clients (50)")
    parser.add_argument("--seconds", type=float, default=5.0, help="per page run (5)")
    asyncio.run(main(parser.parse_args()))
