"""The ticket report reads daily roll-ups kept by database triggers (revision 0040) and reads
percentiles from one bucket's tickets. Here it is checked against the report computed the
plain way, from every ticket in Python, after a random history of inserts and every kind of
change (replies, resolves, reopens, ratings, reassignments, merges, deletions, moved opening
times), for windows that do and do not start at a UTC midnight, and while many writers change
tickets at once with the report read all the while."""

from __future__ import annotations

import asyncio
import random
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import HoursConfig
from bot.core.hours import parse_schedule
from bot.reports import tickets
from bot.reports.figures import median, minutes, share
from bot.reports.periods import Window, spans
from storage.db import create_session_pool
from storage.models import Customer, RoutingRule, Ticket
from tests.conftest import Database

BERLIN = ZoneInfo("Europe/Berlin")
HOURS = parse_schedule(HoursConfig(timezone="Europe/Berlin", country=""))
START = datetime(2026, 9, 20, tzinfo=UTC)
NOW = datetime(2026, 11, 10, 12, tzinfo=UTC)
WINDOWS = (  # (window, by): local days, so most start and end inside a UTC day
    (Window(date(2026, 10, 1), date(2026, 10, 31), BERLIN), "week"),
    (Window(date(2026, 10, 20), date(2026, 10, 26), BERLIN), "day"),  # across the DST change
    (Window(date(2026, 10, 12), date(2026, 10, 12), BERLIN), "day"),  # one day
    (Window(date(2026, 9, 1), date(2026, 11, 30), ZoneInfo("UTC")), "month"),  # whole UTC days
)
NAMES = ("Anna", "Boris", "Vera", "")


def _seconds(rng: random.Random) -> float:
    """Times a report meets: none outside working hours, under a second, minutes to weeks.
    Whole or binary fractions of seconds, so sums are exact in any order."""
    return rng.choice(
        [
            0.0,
            0.0,
            0.5,
            0.25,
            float(rng.randint(1, 59)),
            float(rng.randint(60, 86_400)),
            float(rng.randint(86_400, 2_000_000)),
        ]
    )


def _new_ticket(rng: random.Random, id_: int) -> Ticket:
    created = START + timedelta(seconds=rng.randint(0, 50 * 86_400))
    ticket = Ticket(
        id=id_,
        customer_id=1,
        channel=rng.choice(["telegram", "webchat", "email"]),
        status="new",
        priority=rng.choice(["normal", "normal", "high"]),
        category=rng.choice(["delivery", "billing", "general"]),
        subject=f"ticket {id_}",
        assignee_name=rng.choice(NAMES),
        matched_rule_id=rng.choice([None, 1, 2, 99]),  # 99: a rule since deleted
        due_at=created + timedelta(hours=rng.choice([1, 4, 48])) if rng.random() < 0.8 else None,
        created_at=created,
        updated_at=created,
    )
    if rng.random() < 0.7:
        _answer(rng, ticket)
    return ticket


def _answer(rng: random.Random, ticket: Ticket) -> None:
    wall = float(rng.randint(0, 200_000))
    if ticket.due_at is not None and rng.random() < 0.2:  # on the minute it was due
        wall = (ticket.due_at - ticket.created_at).total_seconds()
    ticket.first_response_at = ticket.created_at + timedelta(seconds=wall)
    ticket.first_response_seconds = wall
    ticket.first_response_work_seconds = _seconds(rng)
    ticket.status = "open"


def _change(rng: random.Random, ticket: Ticket) -> None:
    """One change of the kinds the app, an import or an admin makes."""
    kind = rng.choice(
        ["answer", "resolve", "reopen", "rate", "assign", "category", "move", "rule", "due"]
    )
    if kind == "answer" and ticket.first_response_at is None:
        _answer(rng, ticket)
    elif kind == "resolve":
        done = float(rng.randint(60, 3_000_000))
        ticket.resolved_at = ticket.created_at + timedelta(seconds=done)
        ticket.resolution_seconds = done
        ticket.resolution_work_seconds = _seconds(rng)
        ticket.status = "resolved"
    elif kind == "reopen" and ticket.resolved_at is not None:
        ticket.reopens = (ticket.reopens or 0) + 1
        ticket.resolved_at = ticket.resolution_seconds = ticket.resolution_work_seconds = None
        ticket.status = "open"
    elif kind == "rate":
        ticket.csat_score = rng.randint(1, 5)
    elif kind == "assign":
        ticket.assignee_name = rng.choice(NAMES)
    elif kind == "category":
        ticket.category = rng.choice(["delivery", "billing", "general", "quality"])
    elif kind == "move":  # an import correcting when it was opened
        ticket.created_at = START + timedelta(seconds=rng.randint(0, 50 * 86_400))
    elif kind == "rule":
        ticket.matched_rule_id = rng.choice([None, 1, 2])
    elif kind == "due":
        ticket.due_at = None if ticket.due_at else ticket.created_at + timedelta(hours=2)


async def _seed_world(pool: async_sessionmaker[AsyncSession]) -> None:
    async with pool() as session, session.begin():
        session.add(Customer(id=1, display_name="c", created_at=START))
        session.add(RoutingRule(id=1, name="couriers", keywords="курьер"))
        session.add(RoutingRule(id=2, name="refunds", keywords="refund"))


async def _history(pool: async_sessionmaker[AsyncSession], rng: random.Random) -> None:
    """400 tickets, then 600 changes, 20 merges and 15 deletions, in small transactions."""
    async with pool() as session, session.begin():
        session.add_all(_new_ticket(rng, i) for i in range(1, 401))
    for _ in range(60):
        async with pool() as session, session.begin():
            for id_ in rng.sample(range(1, 401), 10):
                ticket = await session.get(Ticket, id_)
                if ticket is not None:
                    _change(rng, ticket)
    async with pool() as session, session.begin():
        for id_ in rng.sample(range(1, 401), 20):
            ticket = await session.get(Ticket, id_)
            if ticket is not None:
                ticket.merged_into_id = 400 if id_ != 400 else 399
        await session.execute(delete(Ticket).where(Ticket.id.in_(rng.sample(range(1, 401), 15))))


def _expected(rows: list[Ticket], window: Window, by: str, now: datetime) -> dict[str, Any]:
    """The report's figures computed from every ticket, the plain way."""
    names = {1: "couriers", 2: "refunds"}

    def opened(span: Window) -> list[Ticket]:
        return [
            t for t in rows if t.merged_into_id is None and span.since <= t.created_at < span.until
        ]

    def figures(found: list[Ticket]) -> dict[str, Any]:
        def kept(wall: str, work: str) -> tuple[list[float], list[float]]:
            both = [
                (getattr(t, wall), getattr(t, work))
                for t in found
                if getattr(t, wall) is not None and getattr(t, work) is not None
            ]
            return [w for w, _ in both], [k for _, k in both]

        targeted = [
            t
            for t in found
            if t.due_at is not None and (t.first_response_at is not None or t.due_at < now)
        ]
        on_time = [t for t in targeted if t.first_response_at and t.first_response_at <= t.due_at]
        first_wall, first_work = kept("first_response_seconds", "first_response_work_seconds")
        done_wall, done_work = kept("resolution_seconds", "resolution_work_seconds")
        base = [t for t in found if t.resolved_at is not None or t.reopens > 0]
        rated = [t for t in found if t.csat_score is not None]
        return {
            "tickets": len(found),
            "answered": sum(t.first_response_at is not None for t in found),
            "resolved": sum(t.resolved_at is not None for t in found),
            "within_target_percent": share(len(on_time), len(targeted)),
            "reopen_rate_percent": share(sum(t.reopens > 0 for t in base), len(base)),
            "csat_percent": share(sum(t.csat_score >= 4 for t in rated), len(rated)),
            "first_wall": minutes(first_wall),
            "first_work": minutes(first_work),
            "resolve_wall": minutes(done_wall),
            "resolve_work": minutes(done_work),
            "breaches": len(targeted) - len(on_time),
            "by_category": Counter(t.category for t in found),
            "by_assignee": Counter(t.assignee_name or "—" for t in found),
            "by_rule": Counter(names.get(t.matched_rule_id or 0, "") or "—" for t in found),
            "staff": {
                name: (
                    len(mine := [t for t in found if t.assignee_name == name]),
                    sum(t.resolved_at is not None for t in mine),
                    None
                    if (
                        m := median(
                            [
                                t.first_response_work_seconds
                                for t in mine
                                if t.first_response_work_seconds is not None
                                and t.first_response_seconds is not None
                            ]
                        )
                    )
                    is None
                    else round(m / 60, 1),
                    sum(t.csat_score is not None for t in mine),
                )
                for name in {t.assignee_name for t in found if t.assignee_name}
            },
        }

    volume: dict[str, int] = defaultdict(int)
    for label, since, until in spans(window, by):
        volume[label] += sum(
            1 for t in rows if t.merged_into_id is None and since <= t.created_at < until
        )
    return {
        "now": figures(opened(window)),
        "before": figures(opened(window.previous())),
        "volume": {label: n for label, n in volume.items() if n},
    }


def _reported(report: dict[str, Any]) -> dict[str, Any]:
    """The same figures read from the report tree."""

    def figures(which: str) -> dict[str, Any]:
        summary = report["summary"]
        found: dict[str, Any] = {
            name: summary[name][which]
            for name in (
                "tickets",
                "answered",
                "resolved",
                "within_target_percent",
                "reopen_rate_percent",
                "csat_percent",
            )
        }
        for key, part, clock in (
            ("first_wall", "first_response", "wall"),
            ("first_work", "first_response", "working"),
            ("resolve_wall", "resolution", "wall"),
            ("resolve_work", "resolution", "working"),
        ):
            found[key] = {k: v[which] for k, v in summary[part][clock].items()}
        for dimension in ("category", "assignee", "rule"):
            found[f"by_{dimension}"] = Counter(
                {row["key"]: row[which] for row in report[f"by_{dimension}"] if row[which]}
            )
        return found

    now, before = figures("value"), figures("previous")
    now["breaches"] = report["breaches"]["count"]
    now["staff"] = {
        s["name"]: (
            s["tickets"],
            s["resolved"],
            s["first_response_working_median_minutes"],
            s["csat_n"],
        )
        for s in report["staff"]
    }
    return {"now": now, "before": before}


def _comparable(expected: dict[str, Any]) -> dict[str, Any]:
    """The expected figures without those the report shows for this window only."""
    before = {k: v for k, v in expected["before"].items() if k not in ("breaches", "staff")}
    return {"now": expected["now"], "before": before}


async def _check(pool: async_sessionmaker[AsyncSession]) -> int:
    """Every window's report equals the plain computation; the number of windows checked."""
    async with pool() as session:
        rows = list((await session.execute(select(Ticket))).scalars())
    for window, by in WINDOWS:
        async with pool() as session:
            report = await tickets.build(session, HOURS, window, NOW, by=by)
        expected = _expected(rows, window, by, NOW)
        volume = {r["period"]: r["tickets"] for r in report["by_period"]["rows"] if r["tickets"]}
        assert volume == expected["volume"], window
        assert _reported(report) == _comparable(expected), window
    return len(WINDOWS)


async def test_the_report_from_roll_ups_equals_the_report_from_every_ticket(
    database: Database,
):
    pool = create_session_pool(database.engine)
    await _seed_world(pool)
    await _history(pool, random.Random(20261206))
    async with pool() as session:
        kept = len(list((await session.execute(select(Ticket.id))).scalars()))
    assert kept == 385
    assert await _check(pool) == len(WINDOWS)


async def test_roll_ups_stay_right_while_many_write_and_the_report_is_read(database: Database):
    """Eight writers at a time each change a ticket (on PostgreSQL two may wait on one day's
    roll-up row; each locks its rows in one order, so none waits in a circle) while the report
    is read in a loop; afterwards the report equals the plain computation, and every read
    succeeded."""
    pool = create_session_pool(database.engine)
    await _seed_world(pool)
    rng = random.Random(7)
    async with pool() as session, session.begin():
        session.add_all(_new_ticket(rng, i) for i in range(1, 201))

    async def write(seed: int) -> None:
        local = random.Random(seed)
        for attempt in range(40):
            try:
                async with pool() as session, session.begin():  # one ticket, as the app
                    id_ = local.randint(1, 220)
                    ticket = await session.get(Ticket, id_)
                    if ticket is None:
                        session.add(_new_ticket(local, id_))
                    else:
                        _change(local, ticket)
                return
            except OperationalError:  # SQLite: the one writer is busy; try again
                await asyncio.sleep(0.01 * (attempt + 1))
            except Exception as error:  # PostgreSQL: two inserts of one new ticket id
                if "unique" not in str(error).lower() and "duplicate" not in str(error).lower():
                    raise
                return
        raise AssertionError("could not write")

    reads = 0
    done = asyncio.Event()

    async def read_while_writing() -> None:
        nonlocal reads
        while not done.is_set():
            async with pool() as session:
                await tickets.build(session, HOURS, WINDOWS[0][0], NOW)
            reads += 1
            await asyncio.sleep(0)

    reader = asyncio.create_task(read_while_writing())
    for chunk in range(0, 320, 8):
        await asyncio.gather(*(write(seed) for seed in range(chunk, chunk + 8)))
    done.set()
    await reader
    assert reads > 0
    assert await _check(pool) == len(WINDOWS)
