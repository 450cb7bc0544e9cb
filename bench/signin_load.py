"""Sign-in load beside a customer's chat: the web chat's answer latency while wrong sign-ins
arrive in parallel, with the argon2 check off the event loop (as shipped) and on it (as before),
against the same chat idle in the same run.

The app runs in this process on SQLite with the example FAQ; each sign-in comes from its own
address (X-Forwarded-For, trusted here) so the sign-in rate limit never answers 429 before the
password is checked. `python bench/signin_load.py --help` for the options.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402

from bot.app import create_app, create_services  # noqa: E402
from bot.core.understanding.faq_file import load_faq  # noqa: E402
from bot.inbox import auth  # noqa: E402
from bot.web import passwords  # noqa: E402
from storage import migrate  # noqa: E402
from storage.db import create_session_pool  # noqa: E402
from storage.models import StaffAccount  # noqa: E402
from storage.repositories.faq import FaqRepository  # noqa: E402
from tests.conftest import make_settings  # noqa: E402


async def _on_loop(account: StaffAccount | None, password: str) -> bool:
    """The check as it was: argon2 on the event loop."""
    return passwords.password_matches(account.password_hash if account else None, password)


def _percentiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.95) - 1]


async def _chat(http: aiohttp.ClientSession, url: str, count: int) -> list[float]:
    latencies = []
    for number in range(count):
        body = {"session": f"bench-customer-{number:04d}", "text": "сколько стоит доставка"}
        headers = {"X-Forwarded-For": f"198.51.100.{number % 250}"}
        started = time.perf_counter()
        async with http.post(url + "/api/v1/chat/messages", json=body, headers=headers) as resp:
            await resp.read()
            assert resp.status == 200, resp.status
        latencies.append((time.perf_counter() - started) * 1000)
        await asyncio.sleep(0.02)
    return latencies


async def _sign_ins(
    http: aiohttp.ClientSession, url: str, parallel: int, stop: asyncio.Event
) -> int:
    done = 0

    async def one(worker: int) -> None:
        nonlocal done
        number = 0
        while not stop.is_set():
            number += 1
            headers = {
                "Origin": url,
                "X-Forwarded-For": f"10.{worker}.{number // 250}.{number % 250}",
            }
            form = {"login": "nobody", "password": "wrong password 123"}
            async with http.post(url + "/inbox/login", data=form, headers=headers) as resp:
                await resp.read()
                assert resp.status == 401, resp.status
            done += 1

    await asyncio.gather(*(one(w) for w in range(parallel)))
    return done


async def measure(on_loop: bool, parallel: int, count: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        settings = make_settings(
            database={"url": f"sqlite+aiosqlite:///{folder}/bench.db"},
            api={"trust_forwarded_for": True, "sign_in_per_minute": 1_000_000},
            webchat={"requests_per_minute": 1_000_000, "burst": 1_000_000},
            scheduler={"enabled": False},
        )
        services = create_services(settings)
        await migrate.upgrade(services.engine)
        async with create_session_pool(services.engine)() as session, session.begin():
            await FaqRepository(session).upsert(load_faq(ROOT / "faq.example.yaml"))
        saved = auth.password_matches
        if on_loop:
            auth.password_matches = _on_loop  # type: ignore[assignment]
        runner = web.AppRunner(create_app(services), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        url = f"http://127.0.0.1:{port}"
        try:
            async with aiohttp.ClientSession() as http:
                await _chat(http, url, 10)  # warm-up: the index, the model
                idle = await _chat(http, url, count)
                stop = asyncio.Event()
                load = asyncio.create_task(_sign_ins(http, url, parallel, stop))
                await asyncio.sleep(0.3)
                loaded = await _chat(http, url, count)
                stop.set()
                sign_ins = await load
        finally:
            auth.password_matches = saved  # type: ignore[assignment]
            await runner.cleanup()
    return {"idle": _percentiles(idle), "loaded": _percentiles(loaded), "sign_ins": sign_ins}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parallel", type=int, default=5, help="sign-ins at once (5)")
    parser.add_argument("--count", type=int, default=60, help="chat questions measured (60)")
    args = parser.parse_args()
    print(f"chat answer latency, ms (p50 / p95), {args.parallel} wrong sign-ins at a time:")
    print(f"{'argon2 check':18} {'idle':>15} {'with sign-ins':>15} {'sign-ins':>9}")
    for label, on_loop in (("off the loop", False), ("on the loop", True)):
        result = await measure(on_loop, args.parallel, args.count)
        idle, loaded = result["idle"], result["loaded"]
        print(
            f"{label:18} {idle[0]:7.1f} / {idle[1]:5.1f} {loaded[0]:7.1f} / {loaded[1]:5.1f}"
            f" {result['sign_ins']:9d}"
        )


if __name__ == "__main__":
    asyncio.run(main())
