"""Manager report speed: `otklik report tickets|faq|customers` over a year of a busy business,
200,000 tickets, 2,000,000 conversation messages and 1,000,000 survey answers (the issue's
scale), on SQLite and PostgreSQL. Each report is built as the CLI, the API and the console
build it (reads and computing) and timed: median and p95 of --repeats runs. Goal: p95 under
250 ms. `python bench/manager_reports.py --help` for options."""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, text  # noqa: E402

from bot.config import HoursConfig  # noqa: E402
from bot.core.hours import parse_schedule  # noqa: E402
from bot.core.work_clock import working_seconds  # noqa: E402
from bot.reports import manager  # noqa: E402
from storage import migrate  # noqa: E402
from storage.db import create_engine, create_session_pool  # noqa: E402
from storage.models import (  # noqa: E402
    ConversationMessage,
    Customer,
    CustomerMonth,
    FaqEntry,
    SurveyResponse,
    Ticket,
)
from storage.repositories.customer_months import month_index  # noqa: E402
from storage.repositories.ticket_report import fill_missing_times  # noqa: E402
from tests.pg import connect, drop_schema, fresh_schema  # noqa: E402

PG_DEFAULT = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
START = datetime(2025, 12, 1, tzinfo=UTC)
NOW = datetime(2026, 12, 1, 9, tzinfo=UTC)
HOURS = parse_schedule(HoursConfig())
YEAR = 365 * 86400
CHUNK = 20_000
SCHEMA = "bench_manager_reports"


def _at(rng: random.Random) -> datetime:
    return START + timedelta(seconds=rng.randint(0, YEAR - 1))


def data(
    customers: int, tickets: int, messages: int, answers: int, seed: int = 5
) -> dict[str, list[dict[str, Any]]]:
    rng = random.Random(seed)
    rows: dict[str, list[dict[str, Any]]] = {
        "customers": [
            {"id": i, "display_name": f"c{i}", "created_at": START} for i in range(1, customers + 1)
        ],
        "faq": [
            {"id": i, "slug": f"entry-{i}", "language": "ru", "question": "q", "answer": "a"}
            for i in range(1, 41)
        ],
    }
    ticket_rows = []
    # Rows are written in time order, as the app writes them: ids rise with created_at.
    for i, created in enumerate(sorted(_at(rng) for _ in range(tickets)), start=1):
        # Nearly every ticket older than two weeks is answered and resolved; a few recent ones
        # are still open: a backlog of a few hundred, as a working support team has.
        recent = (NOW - created).days < 14
        first = (
            created + timedelta(minutes=rng.expovariate(1 / 90))
            if rng.random() < (0.9 if recent else 0.995)
            else None
        )
        resolved = (
            first + timedelta(hours=rng.expovariate(1 / 20))
            if first and rng.random() < (0.6 if recent else 0.99)
            else None
        )
        ticket_rows.append(
            {
                "id": i,
                "customer_id": rng.randint(1, customers),
                "channel": rng.choice(["telegram", "telegram", "webchat", "email", "whatsapp"]),
                "status": "resolved" if resolved else "open",
                "reopens": 1 if resolved and rng.random() < 0.05 else 0,
                "priority": rng.choice(["normal"] * 8 + ["high", "urgent"]),
                "category": rng.choice(["delivery", "billing", "quality", "general"]),
                "subject": "a complaint",
                "assignee_name": rng.choice(["Anna", "Boris", "Vera", "Gleb", ""]),
                "due_at": created + timedelta(hours=2),
                "first_response_at": first,
                "resolved_at": resolved,
                "csat_score": rng.randint(1, 5) if resolved and rng.random() < 0.3 else None,
                "created_at": created,
                "updated_at": resolved or first or created,
            }
        )
    rows["tickets"] = ticket_rows
    message_rows = []
    months: set[tuple[int, str]] = set()
    for _ in range(messages):
        at = _at(rng)
        customer = rng.randint(1, customers)
        outbound = rng.random() < 0.5
        message_rows.append(
            {
                "customer_id": customer,
                "channel": "telegram",
                "direction": "out" if outbound else "in",
                "text": "hello",
                "faq_entry_id": rng.randint(1, 40) if outbound and rng.random() < 0.2 else None,
                "created_at": at,
            }
        )
        if not outbound:
            months.add((customer, f"{at:%Y-%m}"))
    message_rows.sort(key=lambda m: m["created_at"])
    rows["messages"] = message_rows
    ordered = sorted(months)
    months_rows = [
        {
            "customer_id": c,
            "month": m,
            "first": i == 0 or ordered[i - 1][0] != c,
            "gap": month_index(ordered[i + 1][1]) - month_index(m)
            if i + 1 < len(ordered) and ordered[i + 1][0] == c
            else None,
        }
        for i, (c, m) in enumerate(ordered)
    ]
    # Written month by month, as customers write.
    rows["months"] = sorted(months_rows, key=lambda m: m["month"])
    comments = [
        line.split("\t")[2]
        for line in (ROOT / "tests/data/comments_labelled.tsv").read_text("utf-8").splitlines()
        if line and not line.startswith("#")
    ]
    answer_rows = [
        {
            "kind": kind,
            "customer_id": rng.randint(1, customers),
            "channel": "telegram",
            "score": rng.randint(0, 10) if kind == "nps" else rng.randint(1, 5),
            # One NPS answer in five has a comment.
            "comment": rng.choice(comments) if kind == "nps" and rng.random() < 0.2 else None,
            "created_at": _at(rng),
        }
        for kind in (rng.choice(["nps", "nps", "csat"]) for _ in range(answers))
    ]
    rows["answers"] = sorted(answer_rows, key=lambda a: a["created_at"])
    return rows


async def load(url: str, schema: str, rows: dict[str, list[dict[str, Any]]]) -> None:
    engine = create_engine(url, schema=schema)
    await migrate.upgrade(engine)
    started = time.perf_counter()
    pool = create_session_pool(engine)
    for model, key in (
        (Customer, "customers"),
        (FaqEntry, "faq"),
        (Ticket, "tickets"),
        (ConversationMessage, "messages"),
        (CustomerMonth, "months"),
        (SurveyResponse, "answers"),
    ):
        for offset in range(0, len(rows[key]), CHUNK):
            async with pool() as session, session.begin():
                await session.execute(insert(model), rows[key][offset : offset + CHUNK])
    print(
        f"  loaded {len(rows['tickets']):,} tickets, {len(rows['messages']):,} messages "
        f"({len(rows['months']):,} customer months), {len(rows['answers']):,} answers "
        f"in {time.perf_counter() - started:.0f} s",
        flush=True,
    )
    await _analyze(engine)
    await engine.dispose()


async def _analyze(engine: Any) -> None:
    if engine.dialect.name == "postgresql":
        async with engine.connect() as conn:
            autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.execute(text("VACUUM ANALYZE"))
    else:
        async with engine.begin() as conn:
            await conn.execute(text("ANALYZE"))


ASKS = (
    ("tickets, 30 days", manager.ReportAsk("tickets", date(2026, 11, 1), date(2026, 11, 30))),
    (
        "tickets, a quarter",
        manager.ReportAsk("tickets", date(2026, 9, 1), date(2026, 11, 30), by="month"),
    ),
    (
        "tickets, a year",
        manager.ReportAsk("tickets", date(2025, 12, 1), date(2026, 11, 30), by="month"),
    ),
    ("faq, 30 days", manager.ReportAsk("faq", date(2026, 11, 1), date(2026, 11, 30))),
    ("customers, 6 months", manager.ReportAsk("customers", date(2026, 6, 1), date(2026, 11, 30))),
    ("themes, 30 days", manager.ReportAsk("themes", date(2026, 11, 1), date(2026, 11, 30))),
    (
        "ticket rows, 30 days",
        manager.ReportAsk("tickets", date(2026, 11, 1), date(2026, 11, 30)),
    ),
)


async def _loaded(url: str) -> bool:
    conn = await connect(url)
    if conn is None:
        return False
    found = await conn.fetchval(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = $1"
        " AND table_name = 'tickets'",
        SCHEMA,
    )
    await conn.close()
    return bool(found)


async def measure(url: str, schema: str, repeats: int) -> None:
    engine = create_engine(url, schema=schema)
    await migrate.upgrade(engine)  # a kept database meets the code of today
    # The loaded tickets have no kept reply times, as after an upgrade: measured once, as the
    # app does at start, and timed apart from the reports.
    started = time.perf_counter()
    async with create_session_pool(engine)() as session, session.begin():
        filled = await fill_missing_times(
            session, START - timedelta(days=1), NOW, partial(working_seconds, HOURS)
        )
    print(f"  measured {filled:,} tickets' times at start in {time.perf_counter() - started:.1f} s")
    if filled:  # every ticket row rewritten: statistics as autovacuum would leave them
        await _analyze(engine)
    pool = create_session_pool(engine)
    print(f"  {'report':22} {'median':>9} {'p95':>9}  (of {repeats} runs)")
    for label, ask in ASKS:
        timings = []
        for _ in range(repeats):
            started = time.perf_counter()
            async with pool() as session:
                if label.startswith("ticket rows"):
                    await manager.ticket_rows(session, ask, HOURS, NOW)
                else:
                    await manager.build(session, ask, HOURS, NOW)
            timings.append((time.perf_counter() - started) * 1000)
        timings.sort()
        p95 = timings[max(int(0.95 * len(timings) + 0.5) - 1, 0)]
        print(f"  {label:22} {statistics.median(timings):6.0f} ms {p95:6.0f} ms", flush=True)
    await engine.dispose()


async def write_cost(url: str, schema: str, revision: str, changes: int) -> tuple[float, float]:
    """Milliseconds a ticket's opening and a reply to it take, each its own transaction, at a
    revision: "0039" (no roll-ups) or "head" (the roll-up triggers of revision 0040)."""
    engine = create_engine(url, schema=schema)
    await migrate.upgrade(engine, revision)
    pool = create_session_pool(engine)
    async with pool() as session, session.begin():
        session.add(Customer(id=1, display_name="c", created_at=START))
    opened = time.perf_counter()
    for i in range(1, changes + 1):
        async with pool() as session, session.begin():
            at = START + timedelta(minutes=i)
            session.add(
                Ticket(
                    id=i,
                    customer_id=1,
                    channel="telegram",
                    category="delivery",
                    assignee_name="Anna",
                    due_at=at + timedelta(hours=2),
                    created_at=at,
                    updated_at=at,
                )
            )
    replied = time.perf_counter()
    for i in range(1, changes + 1):
        async with pool() as session, session.begin():
            ticket = await session.get(Ticket, i)
            assert ticket is not None
            ticket.first_response_at = ticket.created_at + timedelta(minutes=30)
            ticket.first_response_seconds = ticket.first_response_work_seconds = 1800.0
            ticket.status = "open"
    done = time.perf_counter()
    await engine.dispose()
    return (replied - opened) * 1000 / changes, (done - replied) * 1000 / changes


async def print_write_cost(url: str, changes: int) -> None:
    """The roll-ups' price: what opening and answering a ticket costs without and with them."""
    print(f"  ticket writes, one per transaction ({changes:,} each), ms:")
    for label, revision in (("without roll-ups (0039)", "0039"), ("with roll-ups", "head")):
        if url.startswith("sqlite"):
            with tempfile.TemporaryDirectory() as tmp:
                cost = await write_cost(f"sqlite+aiosqlite:///{tmp}/w.db", "", revision, changes)
        else:
            schema = await fresh_schema(url, f"{SCHEMA}_writes")
            assert schema is not None
            try:
                cost = await write_cost(url, schema, revision, changes)
            finally:
                await drop_schema(url, schema)
        print(f"    {label:24} open {cost[0]:5.2f}  reply {cost[1]:5.2f}", flush=True)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--tickets", type=int, default=200_000)
    parser.add_argument("--messages", type=int, default=2_000_000)
    parser.add_argument("--answers", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--pg-url", default=PG_DEFAULT)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument(
        "--writes",
        type=int,
        default=1000,
        help="tickets opened and answered to time the roll-ups' cost to writes (0: skip)",
    )
    parser.add_argument(
        "--keep",
        type=Path,
        help="keep the loaded databases (SQLite in this folder, PostgreSQL in the schema "
        f"{SCHEMA}) and reuse them next time, migrated to the newest revision: for working "
        "on a report's speed without loading again",
    )
    args = parser.parse_args()
    made: list[dict[str, list[dict[str, Any]]]] = []

    def rows() -> dict[str, list[dict[str, Any]]]:
        """The generated data, made once and only when a database has to be loaded."""
        if not made:
            started = time.perf_counter()
            made.append(data(args.customers, args.tickets, args.messages, args.answers))
            print(f"  generated in {time.perf_counter() - started:.0f} s", flush=True)
        return made[0]

    if args.only != "postgresql":
        with tempfile.TemporaryDirectory() as tmp:
            print("SQLite:")
            kept = args.keep / "reports.db" if args.keep else None
            url = f"sqlite+aiosqlite:///{kept or Path(tmp) / 'reports.db'}"
            if kept is None or not kept.exists():
                await load(url, "", rows())
            else:
                print(f"  reusing {kept}")
            await measure(url, "", args.repeats)
            if args.writes:
                await print_write_cost(url, args.writes)
    if args.only != "sqlite":
        schema = SCHEMA if args.keep and await _loaded(args.pg_url) else None
        if schema is not None:
            print(f"PostgreSQL:\n  reusing schema {SCHEMA}")
            await measure(args.pg_url, schema, args.repeats)
            if args.writes:
                await print_write_cost(args.pg_url, args.writes)
        elif (schema := await fresh_schema(args.pg_url, SCHEMA)) is None:
            print("PostgreSQL: not reachable, skipped")
        else:
            print("PostgreSQL:")
            try:
                await load(args.pg_url, schema, rows())
                await measure(args.pg_url, schema, args.repeats)
                if args.writes:
                    await print_write_cost(args.pg_url, args.writes)
            finally:
                if not args.keep:
                    await drop_schema(args.pg_url, schema)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory of this process: {peak:.0f} MiB (includes the generated rows)")


if __name__ == "__main__":
    asyncio.run(main())
