"""Web chat flood: another customer's latency while one client floods, limits on and off.

Runs a real `otklik run` per setting on SQLite (the fake Bot API only answers its start-up
calls), measures a customer's question idle, then while one client posts 4,096-character
messages of random words, each from a new session, at each `--rates` (open loop, one
address). The same runs with `[webchat]` limits lifted show what the limits buy. Then the FAQ
matcher alone: one 16,000-character message of random words, with and without the cap on the
work a question may cost. Run `python bench/webchat_flood.py --help` for the options.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.core import faq_matcher  # noqa: E402
from bot.core.understanding.faq_file import load_faq  # noqa: E402
from bot.core.understanding.faq_matcher import FaqDocument, FaqIndex  # noqa: E402
from storage.db import create_engine  # noqa: E402
from tests.conftest import Database  # noqa: E402
from tests.fake_telegram import FakeTelegram  # noqa: E402
from tests.test_web_chat_limits import FloodResult, _random_words, measure_flood  # noqa: E402

NO_LIMITS = {
    "OTKLIK__WEBCHAT__REQUESTS_PER_MINUTE": "1000000000",
    "OTKLIK__WEBCHAT__BURST": "1000000000",
}


def matcher_cost(repeat: int = 5) -> tuple[float, float]:
    """Milliseconds for one 16,000-character question of random words: capped, uncapped."""
    entries = load_faq(ROOT / "faq.example.yaml")
    docs = [
        FaqDocument(i, e.language, e.question, " ".join(e.keywords), e.answer)
        for i, e in enumerate(entries)
    ]
    rng = random.Random(3)
    texts = [_random_words(rng, 16_000) for _ in range(repeat)]

    def cost() -> float:
        index = FaqIndex(docs)  # a fresh index: no word remembered from an earlier run
        started = time.perf_counter()
        for text in texts:
            index.search(text)
        return (time.perf_counter() - started) / repeat * 1000

    capped = cost()
    saved = faq_matcher.MAX_QUERY_CHARS, faq_matcher.MAX_QUERY_WORDS
    faq_matcher.MAX_QUERY_CHARS = faq_matcher.MAX_QUERY_WORDS = 10**9
    try:
        uncapped = cost()
    finally:
        faq_matcher.MAX_QUERY_CHARS, faq_matcher.MAX_QUERY_WORDS = saved
    return capped, uncapped


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--rates", default="4,50,200", help="flood requests a second to try (4,50,200)"
    )
    parser.add_argument("--samples", type=int, default=60, help="victim questions per phase (60)")
    args = parser.parse_args()
    fake = FakeTelegram()
    await fake.start()
    rows: list[tuple[str, float, FloodResult]] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for rate in (float(r) for r in args.rates.split(",")):
                for label, overrides in (("limits on", {}), ("limits off", NO_LIMITS)):
                    url = f"sqlite+aiosqlite:///{tmp}/flood-{rate:g}-{label[-2:]}.db"
                    database = Database(url, create_engine(url), {})
                    print(f"running: {rate:g}/s, {label} ...", flush=True)
                    try:
                        result = await measure_flood(
                            database, fake.base_url, rate, overrides, args.samples
                        )
                    finally:
                        await database.engine.dispose()
                    rows.append((label, rate, result))
    finally:
        await fake.close()
    print(
        f"\n{'flood/s':>8} {'limits':>10} | {'idle p50':>9} {'idle p95':>9} |"
        f" {'flood p50':>9} {'flood p95':>9} {'x idle':>7} | flood answers"
    )
    for label, rate, r in rows:
        idle, busy = FloodResult.ms(r.idle), FloodResult.ms(r.busy)
        print(
            f"{rate:8g} {label[7:]:>10} | {idle:9.1f} {FloodResult.ms(r.idle, 0.95):9.1f} |"
            f" {busy:9.1f} {FloodResult.ms(r.busy, 0.95):9.1f} {busy / idle:7.1f} |"
            f" {dict(sorted(r.answered.items()))}"
        )
    capped, uncapped = matcher_cost()
    print(
        f"\nFAQ matcher, one 16,000-character message of random words: {capped:.1f} ms with the"
        f" cap ({faq_matcher.MAX_QUERY_CHARS} characters, {faq_matcher.MAX_QUERY_WORDS} words),"
        f" {uncapped:.1f} ms without"
    )


if __name__ == "__main__":
    asyncio.run(main())
