"""The self-service (FAQ) and customer reports against figures computed by hand on fixed data:
deflection with its 24-hour follow-up (crossing the window's end), helpfulness per entry,
entries that end in a ticket; active, new and returning customers, churn once the following
month is over, NPS and CSAT of churned versus retained customers (scanner clicks left out),
cohorts. And the customer_months roll-up: kept as messages arrive, once a month per customer,
filled by its migration from the messages stored before it, joined on a merge."""

from __future__ import annotations

import asyncio
import itertools
import random
import re
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from bot.reports import customers, self_service
from bot.reports.periods import Window
from storage import migrate
from storage.db import create_session_pool
from storage.models import (
    ConversationMessage,
    Customer,
    CustomerMonth,
    FaqEntry,
    FaqFeedback,
    FaqMiss,
    SurveyResponse,
    Ticket,
)
from storage.repositories.customer_months import month_index, note_active
from storage.repositories.merges import merge_customers
from storage.repositories.reports import add_response
from tests.api_client import make_token, open_api
from tests.conftest import AppFactory, Database, run_otklik
from tests.fake_telegram import FakeTelegram
from tests.staff import add_staff, browser_session
from tests.test_web_console import _sign_in

BERLIN = ZoneInfo("Europe/Berlin")


def _at(month: int, day: int, hour: int = 10) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


async def _seed_faq(database: Database) -> None:
    async with create_session_pool(database.engine)() as session, session.begin():
        for id_ in range(1, 5):
            session.add(Customer(id=id_, display_name=f"c{id_}", created_at=_at(10, 1)))
        for id_, slug in ((1, "delivery-time"), (2, "refund")):
            session.add(FaqEntry(id=id_, slug=slug, language="en", question=slug, answer="..."))
        await session.flush()
        # Answers: (message id, customer, entry, when). 2 and 4 are followed by a ticket
        # within 24 h (4's after the window's end); 3's ticket comes 25 h later.
        answers = [
            (11, 1, 1, _at(10, 20)),
            (12, 2, 1, _at(10, 21)),
            (13, 3, 2, _at(10, 22)),
            (14, 4, 2, _at(11, 1, 20)),
            (15, 1, 1, _at(10, 10)),  # the previous period
        ]
        for message_id, customer, entry, at in answers:
            session.add(
                ConversationMessage(
                    id=message_id,
                    customer_id=customer,
                    channel="telegram",
                    direction="out",
                    text="answer",
                    faq_entry_id=entry,
                    created_at=at,
                )
            )
        for customer, at in ((2, _at(10, 21, 15)), (3, _at(10, 23, 11)), (4, _at(11, 2, 8))):
            session.add(
                Ticket(
                    customer_id=customer,
                    channel="telegram",
                    subject="x",
                    created_at=at,
                    updated_at=at,
                )
            )
        # Questions the FAQ did not answer (and a 👎, which is a vote, not a question).
        for message_id, kind, at in (
            (21, "unanswered", _at(10, 20)),
            (22, "suggested", _at(10, 27)),
            (23, "unhelpful", _at(10, 21)),
            (24, "unanswered", _at(10, 12)),  # the previous period
        ):
            session.add(
                ConversationMessage(
                    id=message_id,
                    customer_id=1,
                    channel="telegram",
                    direction="in",
                    text="question",
                    created_at=at,
                )
            )
            session.add(FaqMiss(message_id=message_id, kind=kind, created_at=at))
        for message_id, entry, customer, helpful in (
            (11, 1, 1, True),
            (12, 1, 2, False),
            (13, 2, 3, True),
        ):
            session.add(
                FaqFeedback(
                    message_id=message_id,
                    faq_entry_id=entry,
                    customer_id=customer,
                    helpful=helpful,
                    created_at=_at(10, 23),
                )
            )


async def test_faq_deflection_helpfulness_and_entries_ending_in_a_ticket(database: Database):
    await _seed_faq(database)
    window = Window(date(2026, 10, 19), date(2026, 11, 1), BERLIN)
    async with create_session_pool(database.engine)() as session:
        report = await self_service.build(session, window, by="week")
    summary = {k: (v["value"], v["previous"]) for k, v in report["summary"].items()}
    assert summary == {
        "questions": (6, 2),
        "answered_by_faq": (4, 1),
        "not_answered": (2, 1),
        "deflected": (2, 1),
        "deflection_percent": (33.3, 50.0),
    }
    assert [
        (e["slug"], e["answers"], e["helpful"], e["unhelpful"], e["helpful_percent"])
        for e in report["entries"]
    ] == [("delivery-time", 2, 1, 1, 50.0), ("refund", 2, 1, 0, 100.0)]
    assert [(e["slug"], e["tickets"], e["ticket_percent"]) for e in report["ending_in_ticket"]] == [
        ("delivery-time", 1, 50.0),
        ("refund", 1, 50.0),
    ]
    assert report["unanswered_by_period"]["rows"] == [
        {"period": "2026-10-19", "questions": 1},
        {"period": "2026-10-26", "questions": 1},
    ]


async def test_the_answers_behind_the_faq_figures_from_the_api_the_cli_and_the_console(
    start_app: AppFactory, database: Database, tmp_path: Path
):
    """Deflected (no ticket within 24 h): 11 and 13; followed: 12 and 14 (its ticket lands
    after the window's end); entry 2: 13 and 14. The same from every door, and as CSV."""
    await _seed_faq(database)
    app = await start_app(
        clock=lambda: datetime(2026, 11, 3, 9, tzinfo=UTC),
        hours={"timezone": "Europe/Berlin", "country": ""},
    )
    api = await open_api(app)
    token = await make_token(database, "manager", "admin")
    window = {"from": "2026-10-19", "to": "2026-11-01"}
    path = "/api/v1/reports/faq/answers"
    for extra, messages in (
        ({}, [11, 12, 13, 14]),
        ({"followed": "false"}, [11, 13]),
        ({"followed": "true"}, [12, 14]),
        ({"entry": "2"}, [13, 14]),
        ({"entry": "1", "previous": "true"}, [15]),
    ):
        status, body = await api.call("GET", path, token, params={**window, **extra})
        assert status == 200, body
        assert [a["message"] for a in body["answers"]] == messages, extra
    assert body["answers"][0]["slug"] == "delivery-time"
    status, body = await api.call("GET", path, token, params={**window, "entry": "0"})
    assert status == 422

    env = {"OTKLIK__HOURS__TIMEZONE": "Europe/Berlin", "OTKLIK__HOURS__COUNTRY": ""}
    args = ("report", "faq", "--from", "2026-10-19", "--to", "2026-11-01", "--rows")
    done = await asyncio.to_thread(
        run_otklik, database, *args, "--followed", "no", "--format", "csv", cwd=tmp_path, env=env
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "message,customer,answered_at,entry,slug,ticket_within_24h"
    assert [line.split(",")[0] for line in lines[1:]] == ["11", "13"]
    done = await asyncio.to_thread(
        run_otklik, database, *args, "--entry", "2", cwd=tmp_path, env=env
    )
    assert [line.split()[2] for line in done.stdout.splitlines()] == ["refund", "refund"]
    assert "ticket within 24 h" in done.stdout.splitlines()[1]

    # The console: the report's numbers link to their answers; the list exports as CSV.
    await add_staff(database, "boss", role="admin")
    query = "from=2026-10-19&to=2026-11-01&by=week"
    async with browser_session() as http:
        await _sign_in(http, app, "boss")
        async with http.get(f"{app.url}/admin/reports/faq?{query}") as resp:
            page = await resp.text()
        links = re.findall(r'href="/admin/reports/faq/answers\?([^"]*)"', page)
        assert "by=week&amp;from=2026-10-19&amp;to=2026-11-01&amp;followed=false" in links
        assert "by=week&amp;from=2026-10-19&amp;to=2026-11-01&amp;entry=2" in links
        async with http.get(f"{app.url}/admin/reports/faq/answers?{query}&entry=2") as resp:
            listed = await resp.text()
        assert resp.status == 200 and listed.count('href="/admin/faq/2"') == 2
        async with http.get(
            f"{app.url}/admin/reports/faq/answers?{query}&followed=true&format=csv"
        ) as resp:
            assert resp.content_type == "text/csv"
            assert [r.split(",")[0] for r in (await resp.text()).splitlines()[1:]] == ["12", "14"]


MONTHS = {
    1: ("2026-07", "2026-09", "2026-10", "2026-11"),
    2: ("2026-09", "2026-10"),
    3: ("2026-09",),
    4: ("2026-10", "2026-11"),
    5: ("2026-11",),
    6: ("2026-06", "2026-07"),
}


async def test_active_new_churned_and_cohorts(
    start_app: AppFactory, database: Database, tmp_path: Path
):
    async with create_session_pool(database.engine)() as session, session.begin():
        for id_, months in MONTHS.items():
            session.add(Customer(id=id_, display_name=f"c{id_}", created_at=_at(6, 1)))
            await session.flush()
            # In any order (customer 1's backwards): first and the gaps come out the same.
            for month in reversed(months) if id_ == 1 else months:
                await note_active(session, id_, month)
        # (customer, kind, score, when, flagged)
        for customer, kind, score, at, flagged in (
            (3, "nps", 3, _at(9, 15), None),  # churned after September
            (2, "nps", 5, _at(10, 10), None),  # churned after October
            (2, "csat", 2, _at(10, 11), None),
            (1, "nps", 10, _at(9, 20), None),  # retained
            (4, "nps", 9, _at(10, 5), None),
            (4, "csat", 5, _at(10, 6), None),
            (5, "nps", 0, _at(11, 3), None),  # November is not over a month yet: neither
            (1, "nps", 8, _at(10, 1), "burst"),  # a scanner's: left out
        ):
            await add_response(
                session,
                SurveyResponse(
                    kind=kind,
                    customer_id=customer,
                    channel="telegram",
                    score=score,
                    created_at=at,
                    flagged=flagged,
                ),
            )
    async with create_session_pool(database.engine)() as session:
        rows = await session.execute(
            select(CustomerMonth.month, CustomerMonth.first, CustomerMonth.gap)
            .where(CustomerMonth.customer_id == 1)
            .order_by(CustomerMonth.month)
        )
        assert [tuple(r) for r in rows] == [
            ("2026-07", True, 2),
            ("2026-09", False, 1),
            ("2026-10", False, 1),
            ("2026-11", False, None),
        ]
    window = Window(date(2026, 9, 1), date(2026, 11, 30), BERLIN)
    async with create_session_pool(database.engine)() as session:
        report = await customers.build(session, window, today=date(2026, 12, 6), churn_months=1)
    assert report["previous_window"]["from"] == "2026-06"
    assert [
        (m["month"], m["active"], m["new"], m["returning"], m["churned"], m["churn_percent"])
        for m in report["months"]
    ] == [
        ("2026-09", 3, 2, 1, 1, 33.3),
        ("2026-10", 3, 1, 2, 1, 33.3),
        ("2026-11", 3, 1, 2, None, None),  # December is not over
    ]
    summary = {k: (v["value"], v["previous"]) for k, v in report["summary"].items()}
    # Before: June {6}, July {1, 6} (both silent in August), August nobody: 2 of 3 churned.
    assert summary == {"active": (5, 2), "new": (4, 2), "churn_percent": (33.3, 66.7)}
    compared = report["churned_vs_retained"]
    assert compared["churned"] == {
        "nps_n": 2,
        "nps": -100.0,
        "nps_margin_95": 0.0,
        "csat_n": 1,
        "csat_percent": 0.0,
    }
    assert compared["retained"] == {
        "nps_n": 2,
        "nps": 100.0,
        "nps_margin_95": 0.0,
        "csat_n": 1,
        "csat_percent": 100.0,
    }
    assert report["cohorts"] == [
        {"cohort": "2026-09", "size": 2, "active": [2, 1, 0]},
        {"cohort": "2026-10", "size": 1, "active": [1, 1]},
        {"cohort": "2026-11", "size": 1, "active": [1]},
    ]

    # The customers and answers behind the numbers, from the API, the console and the CLI.
    app = await start_app(clock=lambda: datetime(2026, 12, 6, 9, tzinfo=UTC))
    api = await open_api(app)
    token = await make_token(database, "manager", "admin")
    window = {"from": "2026-09-01", "to": "2026-11-30"}
    for month, which, customer_ids in (
        ("2026-09", "churned", [3]),
        ("2026-10", "churned", [2]),
        ("2026-09", "new", [2, 3]),
        ("2026-09", "returning", [1]),
        ("2026-11", "active", [1, 4, 5]),
    ):
        status, body = await api.call(
            "GET",
            "/api/v1/reports/customers/rows",
            token,
            params={**window, "month": month, "which": which},
        )
        assert status == 200, body
        assert [c["customer"] for c in body["customers"]] == customer_ids, (month, which)
    assert body["customers"][0]["next_active_month"] is None and body["customers"][0]["name"]
    status, _ = await api.call(
        "GET", "/api/v1/reports/customers/rows", token, params={**window, "month": "2026-13"}
    )
    assert status == 422
    for churned, answers in (
        ("true", [(3, "nps", 3), (2, "nps", 5), (2, "csat", 2)]),
        ("false", [(1, "nps", 10), (4, "nps", 9), (4, "csat", 5)]),
    ):
        status, body = await api.call(
            "GET", "/api/v1/reports/customers/answers", token, params={**window, "churned": churned}
        )
        assert status == 200, body
        assert [(a["customer"], a["kind"], a["score"]) for a in body["answers"]] == answers
    await add_staff(database, "boss", role="admin")
    async with browser_session() as http:
        await _sign_in(http, app, "boss")
        async with http.get(
            f"{app.url}/admin/reports/customers?from=2026-09-01&to=2026-11-30"
        ) as resp:
            page = await resp.text()
        link = re.search(
            r'href="(/admin/reports/customers/rows\?[^"]*month=2026-09[^"]*which=churned)"', page
        )
        assert link is not None
        async with http.get(app.url + link.group(1).replace("&amp;", "&")) as resp:
            assert resp.status == 200 and "#3 c3" in await resp.text()
        assert "/admin/reports/customers/answers?" in page
    done = await asyncio.to_thread(
        run_otklik,
        database,
        "report",
        "customers",
        "--rows",
        "--month",
        "2026-09",
        "--which",
        "new",
        "--format",
        "csv",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert [line.split(",")[0] for line in done.stdout.splitlines()] == ["customer", "2", "3"]


async def test_customer_months_follow_messages_migrations_and_merges(
    start_app: AppFactory, fake_tg: FakeTelegram, database: Database
):
    # Messages stored before the roll-up existed are counted by its migration.
    await migrate.downgrade(database.engine, "0032")
    async with database.engine.begin() as conn:
        await conn.exec_driver_sql(
            "INSERT INTO customers (id, display_name, language, last_channel, blocked_channels,"
            " unreachable, surveys_opted_out, timezone, tags, created_at)"
            " VALUES (1, 'old', 'en', 'telegram', '', false, false, '', '', '2026-01-01')"
        )
        for day, direction in (("2026-03-05", "in"), ("2026-03-20", "in"), ("2026-04-02", "out")):
            await conn.exec_driver_sql(
                "INSERT INTO conversation_messages (customer_id, channel, direction, text,"
                f" created_at) VALUES (1, 'telegram', '{direction}', 'hi', '{day} 10:00:00+00:00')"
            )
    await migrate.upgrade(database.engine)
    async with create_session_pool(database.engine)() as session:
        rows = (await session.execute(select(CustomerMonth.customer_id, CustomerMonth.month))).all()
        assert sorted(tuple(r) for r in rows) == [(1, "2026-03")]  # a reply is not activity
        assert (await session.get(Customer, 1)).active_month == "2026-03"  # type: ignore[union-attr]

    # A message from a customer counts their month once, however many they send.
    app = await start_app()
    for n in range(3):
        assert await fake_tg.deliver(fake_tg.message_update(501, f"hello {n}")) == 200
    assert await fake_tg.deliver(fake_tg.message_update(502, "hi")) == 200
    await app.drain()
    month = "2026-11"  # the test app's clock: 24 November 2026
    async with create_session_pool(database.engine)() as session, session.begin():
        rows = (
            await session.execute(
                select(CustomerMonth.customer_id, CustomerMonth.month).order_by(
                    CustomerMonth.customer_id
                )
            )
        ).all()
        assert [r.month for r in rows] == ["2026-03", month, month]
        first, second = rows[1].customer_id, rows[2].customer_id
        # Merged: one customer with both their months, and the source has none left.
        old = await session.get(Customer, 1)
        target = await session.get(Customer, first)
        assert old is not None and target is not None
        await merge_customers(session, old, target, "test", datetime.now(UTC))
    async with create_session_pool(database.engine)() as session:
        rows = (await session.execute(select(CustomerMonth.customer_id, CustomerMonth.month))).all()
        assert sorted(tuple(r) for r in rows) == sorted(
            [(first, "2026-03"), (first, month), (second, month)]
        )
        merged = await session.execute(
            select(CustomerMonth.month, CustomerMonth.first, CustomerMonth.gap)
            .where(CustomerMonth.customer_id == first)
            .order_by(CustomerMonth.month)
        )
        assert [tuple(r) for r in merged] == [("2026-03", True, 8), (month, False, None)]


async def test_customer_months_stay_right_while_written_and_read_at_once(database: Database):
    """Months and answers stored side by side, in any order, many transactions at a time,
    while the report is read: afterwards every customer's first month, gaps and counts are
    what their months and answers say, and every read succeeded."""
    rng = random.Random(20261206)
    wanted: dict[int, set[str]] = {c: set() for c in range(1, 9)}
    answers: list[tuple[int, str, int]] = []
    async with create_session_pool(database.engine)() as session, session.begin():
        for customer in wanted:
            session.add(Customer(id=customer, display_name=f"c{customer}", created_at=_at(1, 1)))
    work = []
    for customer in wanted:
        for month in rng.sample(range(1, 13), 6):
            label = f"2026-{month:02d}"
            wanted[customer].add(label)
            if rng.random() < 0.5:
                answers.append((customer, label, rng.randint(0, 10)))
                work.append(("answer", customer, label, answers[-1][2]))
            else:
                work.append(("month", customer, label, 0))
    rng.shuffle(work)
    pool = create_session_pool(database.engine)

    async def write(kind: str, customer: int, label: str, score: int) -> None:
        for attempt in range(20):
            try:
                async with pool() as session, session.begin():
                    if kind == "month":
                        await note_active(session, customer, label)
                    else:
                        at = datetime(2026, int(label[5:]), 10, 12, tzinfo=UTC)
                        await add_response(
                            session,
                            SurveyResponse(
                                kind="nps",
                                customer_id=customer,
                                channel="link",
                                score=score,
                                created_at=at,
                            ),
                        )
                return
            except OperationalError:  # SQLite: the one writer is busy; try again
                await asyncio.sleep(0.01 * (attempt + 1))
        raise AssertionError("could not write")

    reads = 0

    async def read_while_writing(done: asyncio.Event) -> None:
        nonlocal reads
        window = Window(date(2026, 1, 1), date(2026, 12, 31), BERLIN)
        while not done.is_set():
            async with pool() as session:
                await customers.build(session, window, today=date(2027, 3, 1))
            reads += 1
            await asyncio.sleep(0)

    done = asyncio.Event()
    reader = asyncio.create_task(read_while_writing(done))
    for chunk in range(0, len(work), 8):
        await asyncio.gather(*(write(*item) for item in work[chunk : chunk + 8]))
    done.set()
    await reader
    assert reads >= 1
    async with pool() as session:
        rows = (await session.execute(select(CustomerMonth))).scalars().all()
    by_customer: dict[int, list[CustomerMonth]] = {}
    for row in rows:
        by_customer.setdefault(row.customer_id, []).append(row)
    for customer, months in wanted.items():
        ordered = sorted(by_customer[customer], key=lambda r: r.month)
        assert [r.month for r in ordered] == sorted(months)
        expected_gaps = [
            month_index(b.month) - month_index(a.month) for a, b in itertools.pairwise(ordered)
        ] + [None]
        assert [r.gap for r in ordered] == expected_gaps, customer
        assert [r.first for r in ordered] == [True] + [False] * (len(ordered) - 1), customer
        for row in ordered:
            scores = [s for c, m, s in answers if c == customer and m == row.month]
            assert row.nps_n == len(scores)
            assert row.nps_promoters == sum(1 for s in scores if s >= 9)
            assert row.nps_detractors == sum(1 for s in scores if s <= 6)
