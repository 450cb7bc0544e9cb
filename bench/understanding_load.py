"""Understanding under load: the labelled phrasings (set B of tests/data/understanding_report.txt)
sent as Telegram updates through a real `otklik run`'s webhook, one at a time, at 30 a second,
and all at once, each from a chat of its own; the replies read at the fake Bot API.

Per business and pace: confident and correct (the right entry answered outright), confident
wrong, one-tap reach (the right entry answered or among the suggestion buttons), out-of-scope
questions answered, reply latency p50/p95/max (POST -> the reply at the fake), and what the meaning
pass did (`otklik_faq_dense_total` read from /metrics: ran, recalled, shed for lack of time).
Quality should not depend on the pace up to Telegram's 30 a second; past it, replies may wait
longer but should be no worse. SQLite in a temporary directory (the understanding does not
depend on the database). `python bench/understanding_load.py --help`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.understanding import FAQS, REPORT, Case, load_cases  # noqa: E402
from bench.webhook import (  # noqa: E402
    SECRET,
    import_faq,
    otklik_env,
    start_process,
    wait_listening,
)
from bot.core.understanding.faq_file import load_faq  # noqa: E402
from tests.conftest import free_port  # noqa: E402
from tests.fake_telegram import Call, FakeTelegram  # noqa: E402

PACES = ("one at a time", "30 a second", "all at once")


@dataclass
class Outcome:
    case: Case
    answered: str | None = None  # the slug answered outright
    offered: list[str] = field(default_factory=list)  # slugs among the buttons
    seconds: float = 0.0


def slugs_by_question(business: str) -> dict[str, str]:
    return {r.question.strip(): r.slug for r in load_faq(FAQS[business])}


def read_reply(call: Call, questions: dict[str, str]) -> tuple[str | None, list[str]]:
    """The entry answered outright (its question in bold opens the reply) and those offered."""
    text = str(call.params.get("text", ""))
    bold = re.match(r"<b>(.*?)</b>", text, re.S)
    answered = questions.get(unescape(bold.group(1)).strip()) if bold else None
    markup: Any = call.params.get("reply_markup") or {}
    if isinstance(markup, str):
        markup = json.loads(markup)
    offered = []
    for row in markup.get("inline_keyboard", []):
        for button in row:
            label = str(button.get("text", "")).rstrip("…").strip()
            found = next((s for q, s in questions.items() if label and q.startswith(label)), None)
            if found is not None:
                offered.append(found)
    return answered, offered


async def run_business(
    business: str, cases: list[Case], fake: FakeTelegram, base_chat: int
) -> dict[str, tuple[list[Outcome], dict[str, float]]]:
    port = free_port()
    results: dict[str, tuple[list[Outcome], dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        env = otklik_env(f"sqlite+aiosqlite:///{tmp}/bench.db", port, fake.base_url)
        await import_faq(env, FAQS[business])
        questions = slugs_by_question(business)
        for number, pace in enumerate(PACES):
            # A process per pace: what it remembers of earlier questions (their vectors and
            # rankings) must not make a later pace look better.
            process = start_process([sys.executable, "-m", "bot", "run"], env)
            try:
                await wait_listening(port, process)
                chat0 = base_chat + number * 10_000
                # Warm-up: the first question waits for the FAQ to load; not measured.
                warm = [Case(business, "ru", "-", "здравствуйте, подскажите пожалуйста")]
                await send(fake, port, warm, "one at a time", chat0 - 1, questions)
                before = await dense_outcomes(port)
                outcomes = await send(fake, port, cases, pace, chat0, questions)
                after = await dense_outcomes(port)
                passes = {k: v - before.get(k, 0.0) for k, v in after.items()}
                results[pace] = (outcomes, passes)
            finally:
                process.terminate()
                process.communicate(timeout=20)
    return results


async def dense_outcomes(port: int) -> dict[str, float]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{port}/metrics") as resp,
    ):
        text = await resp.text()
    found = {}
    for line in text.splitlines():
        match = re.match(r'otklik_faq_dense_total\{outcome="(\w+)"\} ([\d.e+]+)', line)
        if match:
            found[match.group(1)] = float(match.group(2))
    return found


async def send(
    fake: FakeTelegram,
    port: int,
    cases: list[Case],
    pace: str,
    chat0: int,
    questions: dict[str, str],
) -> list[Outcome]:
    url = f"http://127.0.0.1:{port}/telegram/webhook"
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    replies: dict[int, asyncio.Future[tuple[float, Call]]] = {}

    def on_call(call: Call) -> None:
        if call.method != "sendMessage":
            return
        future = replies.get(int(call.params["chat_id"]))
        if future is not None and not future.done():
            future.set_result((time.perf_counter(), call))

    fake.listeners.append(on_call)
    outcomes = [Outcome(case) for case in cases]
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=600)) as http:

            async def ask(number: int) -> None:
                chat = chat0 + number
                future = asyncio.get_running_loop().create_future()
                replies[chat] = future
                update = fake.message_update(chat, cases[number].text)
                started = time.perf_counter()
                async with http.post(url, json=update, headers=headers) as resp:
                    await resp.read()
                    if resp.status != 200:
                        raise SystemExit(f"webhook answered {resp.status}")
                at, call = await asyncio.wait_for(future, 120)
                outcome = outcomes[number]
                outcome.seconds = at - started
                outcome.answered, outcome.offered = read_reply(call, questions)

            if pace == "one at a time":
                for number in range(len(cases)):
                    await ask(number)
            elif pace == "30 a second":
                tasks = []
                for number in range(len(cases)):
                    tasks.append(asyncio.create_task(ask(number)))
                    await asyncio.sleep(1 / 30)
                await asyncio.gather(*tasks)
            else:
                await asyncio.gather(*(ask(number) for number in range(len(cases))))
    finally:
        fake.listeners.remove(on_call)
    return outcomes


def figures(outcomes: list[Outcome]) -> dict[str, float]:
    inside = [o for o in outcomes if o.case.slug != "-"]
    outside = [o for o in outcomes if o.case.slug == "-"]
    right = sum(o.answered == o.case.slug for o in inside)
    wrong = sum(o.answered is not None and o.answered != o.case.slug for o in inside)
    reach = sum(o.answered == o.case.slug or o.case.slug in o.offered for o in inside)
    latencies = sorted(o.seconds for o in outcomes)
    return {
        "confident and correct": right / len(inside),
        "confident wrong": wrong + sum(o.answered is not None for o in outside),
        "one-tap reach": reach / len(inside),
        "out-of-scope answered": sum(o.answered is not None for o in outside) / len(outside),
        "p50 ms": statistics.median(latencies) * 1000,
        "p95 ms": latencies[int(0.95 * (len(latencies) - 1))] * 1000,
        "max ms": latencies[-1] * 1000,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--business", choices=sorted(FAQS), action="append", help="only these (all)"
    )
    args = parser.parse_args()
    cases = load_cases(REPORT)
    fake = FakeTelegram()
    fake.record_calls = False
    await fake.start()
    print(f"{os.cpu_count()} cores; set B of {REPORT.name}; paces: {', '.join(PACES)}")
    try:
        for number, business in enumerate(args.business or sorted(FAQS)):
            mine = [c for c in cases if c.business == business]
            print(f"\n{business}: {len(mine)} phrasings", flush=True)
            results = await run_business(business, mine, fake, 40_000_000 + number * 100_000)
            print(
                f"{'pace':14} {'conf+correct':>12} {'wrong':>6} {'one-tap':>8} {'oos ans':>8}"
                f" {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}  meaning pass"
            )
            for pace, (outcomes, dense) in results.items():
                f = figures(outcomes)
                passes = ", ".join(f"{k} {v:g}" for k, v in sorted(dense.items()) if v)
                print(
                    f"{pace:14} {f['confident and correct']:12.1%} {f['confident wrong']:6.0f}"
                    f" {f['one-tap reach']:8.1%} {f['out-of-scope answered']:8.1%}"
                    f" {f['p50 ms']:8.0f} {f['p95 ms']:8.0f} {f['max ms']:8.0f}  {passes}"
                )
    finally:
        await fake.close()


if __name__ == "__main__":
    asyncio.run(main())
