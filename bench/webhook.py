"""Webhook throughput: Otklik's full FAQ path against a bare aiogram echo bot, same fake API.

Each bot runs as its own process; this process runs the fake Bot API and the load generator.
Each concurrent worker is one chat with one update in flight, so the reply that closes an update
is unambiguous: latency is POST sent -> sendMessage received by the fake.
The echo runs before and after every round of Otklik runs; each Otklik run is compared with
the two echo runs around it. Run `python bench/webhook.py --help` for the options.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import free_port  # noqa: E402
from tests.fake_telegram import Call, FakeTelegram  # noqa: E402
from tests.pg import drop_schema, fresh_schema  # noqa: E402

TOKEN = "123456:BENCH-token"
SECRET = "bench-secret-for-the-fake-only"
PG_DEFAULT = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


@dataclass
class Result:
    name: str
    count: int
    seconds: float
    latencies: list[float]
    cpu_seconds: float = 0.0  # the bot process's user + system CPU over the measured run
    server_cpu_seconds: float | None = None  # the PostgreSQL server's, on this machine

    @property
    def rate(self) -> float:
        return self.count / self.seconds

    @property
    def cpu_ms(self) -> float:
        return self.cpu_seconds / self.count * 1000

    @property
    def server_cpu_ms(self) -> str:
        if self.server_cpu_seconds is None:
            return "-"
        return f"{self.server_cpu_seconds / self.count * 1000:.2f}"

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def questions(paraphrases: float = 0.0) -> list[str]:
    """The shop FAQ's phrasings (mostly answered by words alone), with `paraphrases` of them
    replaced by questions from understanding set B that words alone are not sure of: those
    take the dense pass (about 20 ms of CPU each) when the model is installed."""
    lines = (ROOT / "tests/data/faq_phrasings.txt").read_text(encoding="utf-8").splitlines()
    plain = [line.split("|", 2)[2].strip() for line in lines if line and not line.startswith("#")]
    if paraphrases <= 0:
        return plain
    report = (ROOT / "tests/data/understanding_report.txt").read_text(encoding="utf-8")
    hard = [
        line.split("|", 3)[3].strip()
        for line in report.splitlines()
        if line.startswith("shop |") and line.split("|")[2].strip() != "-"
    ]
    mixed = []
    for i in range(200):  # every tenth question in the cycle is a paraphrase, per the share
        share_so_far = sum(1 for q in mixed if q in hard) / max(len(mixed), 1)
        mixed.append(hard[i % len(hard)] if share_so_far < paraphrases else plain[i % len(plain)])
    return mixed


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux /proc): what one update costs the bot,
    which moves far less between runs than a rate does on a shared machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds() -> float:
    """User + system CPU of every `postgres` process on this machine (backends, WAL writer,
    checkpointer): the database's share of the two cores, which the bot does not count."""
    total = 0.0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if (proc / "comm").read_text().strip() == "postgres":
                total += cpu_seconds(int(proc.name))
        except OSError:
            continue  # gone meanwhile, or not ours to read
    return total


async def wait_listening(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"bot process exited with {process.returncode}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise SystemExit("bot did not start listening within 60 s")


async def drive(
    name: str, fake: FakeTelegram, port: int, texts: list[str], n: int, concurrency: int
) -> Result:
    url = f"http://127.0.0.1:{port}/telegram/webhook"
    waiting: dict[int, asyncio.Future[float]] = {}

    def on_call(call: Call) -> None:
        if call.method == "sendMessage":
            future = waiting.get(int(call.params["chat_id"]))
            if future is not None and not future.done():
                future.set_result(time.perf_counter())

    fake.listeners.append(on_call)
    latencies: list[float] = []
    counter = iter(range(n))
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def worker(number: int) -> None:
            # One chat per worker, one update in flight per chat (as Telegram delivers them):
            # returning customers, and every reply is attributable to its update.
            chat_id = 10_000_000 + number
            for i in counter:
                update = fake.message_update(chat_id, texts[i % len(texts)], update_id=i + 1)
                future = asyncio.get_running_loop().create_future()
                waiting[chat_id] = future
                started = time.perf_counter()
                headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
                async with http.post(url, json=update, headers=headers) as resp:
                    if resp.status != 200:
                        raise SystemExit(f"{name}: webhook answered {resp.status}")
                done = await asyncio.wait_for(future, 30)
                latencies.append(done - started)
                del waiting[chat_id]

        began = time.perf_counter()
        await asyncio.gather(*(worker(k) for k in range(concurrency)))
        elapsed = time.perf_counter() - began
    fake.listeners.remove(on_call)
    return Result(name, n, elapsed, latencies)


async def import_faq(env: dict[str, str], path: Path = ROOT / "faq.example.yaml") -> None:
    """An FAQ into the database `env` names, through the bot's own CLI as an owner does it;
    a failure stops the bench with the command's own words."""
    command = [sys.executable, "-m", "bot", "faq", "import", str(path)]
    done = await asyncio.to_thread(
        subprocess.run, command, cwd=ROOT, env={**os.environ, **env}, capture_output=True
    )
    if done.returncode != 0:
        raise SystemExit(f"faq import failed: {done.stderr.decode()[-800:]}")


def start_process(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        args, cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


async def run_echo(fake: FakeTelegram, texts: list[str], n: int, c: int) -> Result:
    port = free_port()
    env = {"API_BASE": fake.base_url, "TOKEN": TOKEN, "SECRET": SECRET, "PORT": str(port)}
    process = start_process([sys.executable, str(ROOT / "bench/echo_bot.py")], env)
    try:
        await wait_listening(port, process)
        await drive("echo warm-up", fake, port, texts, min(200, n), c)
        cpu_before = cpu_seconds(process.pid)
        result = await drive("aiogram echo", fake, port, texts, n, c)
        result.cpu_seconds = cpu_seconds(process.pid) - cpu_before
        return result
    finally:
        process.terminate()
        process.communicate(timeout=10)


def otklik_env(database_url: str, port: int, api_base: str, **more: str) -> dict[str, str]:
    """The settings of one `otklik run` in webhook mode against the fake (every bench's)."""
    return {
        "OTKLIK__DATABASE__URL": database_url,
        "OTKLIK__HTTP__PORT": str(port),
        "OTKLIK__TELEGRAM__TOKEN": TOKEN,
        "OTKLIK__TELEGRAM__MODE": "webhook",
        "OTKLIK__TELEGRAM__API_BASE": api_base,
        "OTKLIK__TELEGRAM__WEBHOOK_URL": f"http://127.0.0.1:{port}/telegram/webhook",
        "OTKLIK__TELEGRAM__WEBHOOK_SECRET": SECRET,
        "OTKLIK__LOGGING__LEVEL": "WARNING",
        **more,
    }


async def warm_question_vectors(fake: FakeTelegram, port: int, texts: list[str]) -> None:
    """Each distinct question once, at 8 a second (under the dense budget of 10): a bot that
    has run a while knows the vectors of the wordings it keeps hearing (RecentQuestions), so
    the measured run is its steady state, not the model's first sight of every question."""
    distinct = list(dict.fromkeys(texts))
    print(f"  warming the vectors of {len(distinct)} questions ...", flush=True)
    await drive_paced(fake, port, distinct, per_second=8.0, offset=2_000_000)


async def drive_paced(
    fake: FakeTelegram, port: int, texts: list[str], per_second: float, offset: int
) -> None:
    url = f"http://127.0.0.1:{port}/telegram/webhook"
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    async with aiohttp.ClientSession() as http:
        for number, text in enumerate(texts):
            update = fake.message_update(9_000_000, text, update_id=offset + number)
            async with http.post(url, json=update, headers=headers) as resp:
                if resp.status != 200:
                    raise SystemExit(f"warm-up: webhook answered {resp.status}")
            await asyncio.sleep(1 / per_second)


async def run_otklik(
    fake: FakeTelegram,
    texts: list[str],
    n: int,
    c: int,
    database_url: str,
    schema: str,
    warm_vectors: bool = True,
) -> Result:
    port = free_port()
    # The fake answers every send, and the echo bot paces nothing: the bot's own pacing
    # (Telegram's ~30 sends a second per token) is lifted to measure handling alone.
    env = otklik_env(
        database_url,
        port,
        fake.base_url,
        OTKLIK__DATABASE__SCHEMA=schema,
        OTKLIK__TELEGRAM__SENDS_PER_SECOND="100000",
    )
    await import_faq(env)
    process = start_process([sys.executable, "-m", "bot", "run"], env)
    try:
        await wait_listening(port, process)
        if warm_vectors:
            await warm_question_vectors(fake, port, texts)
        await drive("otklik warm-up", fake, port, texts, min(200, n), c)
        # Update ids restart at 1 in each drive; use a fresh range so none is a redelivery.
        cpu_before, server_before = cpu_seconds(process.pid), postgres_cpu_seconds()
        result = await drive_fresh(fake, port, texts, n, c, offset=1_000_000)
        result.cpu_seconds = cpu_seconds(process.pid) - cpu_before
        if not database_url.startswith("sqlite"):
            result.server_cpu_seconds = postgres_cpu_seconds() - server_before
        return result
    finally:
        process.terminate()
        _, err = process.communicate(timeout=10)
        if process.returncode not in (0, -15):
            print(err.decode()[-2000:], file=sys.stderr)


async def drive_fresh(
    fake: FakeTelegram, port: int, texts: list[str], n: int, c: int, offset: int
) -> Result:
    original = fake.message_update

    def shifted(chat_id: int, text: str, *, update_id: int | None = None, **kw: object):  # type: ignore[no-untyped-def]
        return original(chat_id, text, update_id=(update_id or 0) + offset, **kw)  # type: ignore[arg-type]

    fake.message_update = shifted  # type: ignore[method-assign]
    try:
        return await drive("otklik", fake, port, texts, n, c)
    finally:
        fake.message_update = original  # type: ignore[method-assign]


def server_share(results: list[Result]) -> str:
    spent = [r.server_cpu_seconds / r.count * 1000 for r in results if r.server_cpu_seconds]
    if not spent:
        return ""
    return f", plus {statistics.median(spent):.2f} ms in the PostgreSQL server"


def report(rows: list[tuple[Result, float]]) -> None:
    print(
        f"\n{'run':34} {'updates/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'vs echo':>8}"
        f" {'CPU ms/update':>14} {'PG server CPU':>14}"
    )
    for r, ratio in rows:
        print(
            f"{r.name:34} {r.rate:10.1f} {r.percentile(0.5):8.1f} {r.percentile(0.99):8.1f} "
            f"{ratio:7.0%} {r.cpu_ms:14.2f} {r.server_cpu_ms:>14}"
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=2000, help="updates per run (2000)")
    parser.add_argument("-c", "--concurrency", type=int, default=32, help="in flight (32)")
    parser.add_argument(
        "--database",
        choices=["sqlite", "postgresql", "both"],
        default="both",
        help="databases to run Otklik on (both)",
    )
    parser.add_argument(
        "--rounds", type=int, default=2, help="rounds of Otklik runs between echo runs (2)"
    )
    parser.add_argument("--pg-url", default=PG_DEFAULT, help="PostgreSQL URL for the PG run")
    parser.add_argument(
        "--paraphrases",
        type=float,
        default=0.0,
        help="share of questions (0..1) that need matching by meaning (0; issue 15 asks 0.3)",
    )
    parser.add_argument(
        "--cold",
        action="store_true",
        help="skip warming the question vectors: every wording is new to the model, which "
        "runs at its budget (10 a second) through the measured run",
    )
    args = parser.parse_args()
    texts = questions(args.paraphrases)
    fake = FakeTelegram()
    fake.record_calls = False  # keep memory flat over long runs
    await fake.start()
    databases = {
        "sqlite": ["SQLite"],
        "postgresql": ["PostgreSQL"],
        "both": ["SQLite", "PostgreSQL"],
    }[args.database]
    try:
        print(
            f"{args.n} updates, concurrency {args.concurrency}, {len(set(texts))} distinct"
            f" questions ({args.paraphrases:.0%} paraphrases),"
            f" {args.rounds} round(s)"
        )
        # On a shared 2-core machine a rate alone moves by a quarter from run to run, so the
        # echo runs before and after every round, each Otklik run is compared with the mean
        # of the two echo runs around it, and the summary is the median over the rounds.
        print("running: bare aiogram echo bot ...", flush=True)
        echoes = [await run_echo(fake, texts, args.n, args.concurrency)]
        echoes[0].name = "aiogram echo #0"
        runs: dict[str, list[Result]] = {name: [] for name in databases}
        with tempfile.TemporaryDirectory() as tmp:
            for round_number in range(1, args.rounds + 1):
                for name in databases:
                    if name == "SQLite":
                        url, schema = f"sqlite+aiosqlite:///{tmp}/bench{round_number}.db", ""
                    else:
                        found = await fresh_schema(
                            args.pg_url, f"bench_{os.getpid()}_{round_number}"
                        )
                        if found is None:
                            continue
                        url, schema = args.pg_url, found
                    print(f"running: otklik on {name}, round {round_number} ...", flush=True)
                    try:
                        result = await run_otklik(
                            fake, texts, args.n, args.concurrency, url, schema, not args.cold
                        )
                    finally:
                        if schema:
                            await drop_schema(args.pg_url, schema)
                    result.name = f"otklik FAQ ({name}) #{round_number}"
                    runs[name].append(result)
                print("running: bare aiogram echo bot ...", flush=True)
                echo = await run_echo(fake, texts, args.n, args.concurrency)
                echo.name = f"aiogram echo #{round_number}"
                echoes.append(echo)
        echo_mean = statistics.mean(e.rate for e in echoes)
        rows = [(e, e.rate / echo_mean) for e in echoes]
        summary: list[str] = []
        for name, results in runs.items():
            ratios = []
            for index, result in enumerate(results):
                around = (echoes[index].rate + echoes[index + 1].rate) / 2
                ratios.append(result.rate / around)
                rows.append((result, ratios[-1]))
            if results:
                summary.append(
                    f"otklik FAQ ({name}): median {statistics.median(ratios):.0%} of the echo"
                    f" (runs: {', '.join(f'{r:.0%}' for r in ratios)}),"
                    f" {statistics.median(r.rate for r in results):.0f} updates/s,"
                    f" {statistics.median(r.cpu_ms for r in results):.2f} ms CPU per update"
                    f" against the echo's {statistics.median(e.cpu_ms for e in echoes):.2f}"
                    + server_share(results)
                )
        report(rows)
        print()
        for line in summary:
            print(line)
    finally:
        await fake.close()


if __name__ == "__main__":
    asyncio.run(main())
