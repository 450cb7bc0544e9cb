"""The ticket report: how many complaints, about what, how fast they were answered and solved
(wall clock and working hours), how many within target, reopened, still open, and per staff
member; every figure beside the previous period's.

Definitions (printed with the report, README "Reports"):
- first response: from the ticket opening to the first staff reply; resolution: to resolved
  (a ticket reopened and resolved again counts its last resolution);
- within target: the first reply by the ticket's due time (set in working hours when it
  opened); a breach is a ticket replied to late, or not replied to and past due;
- reopen rate: tickets of the window reopened at least once, of those resolved;
- backlog: tickets open at the end of the window (or `as_of`), by age.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.hours import WorkingHours
from bot.reports.figures import Figure, median, minutes, share
from bot.reports.periods import Window, period_of
from bot.reports.work_clock import WorkClock
from storage.repositories.ticket_report import TicketRow, tickets_open_at, tickets_opened

DIMENSIONS = ("category", "channel", "priority", "rule", "assignee")
AGES = (("under 1 day", 1), ("1-3 days", 3), ("3-7 days", 7), ("7-30 days", 30), ("30+ days", None))
BREACHES_LISTED = 50


@dataclass(frozen=True)
class Durations:
    """A ticket's first-response and resolution times, wall clock and working, in seconds."""

    first_wall: float | None
    first_work: float | None
    resolve_wall: float | None
    resolve_work: float | None


def durations(rows: Iterable[TicketRow], hours: WorkingHours) -> dict[int, Durations]:
    rows = list(rows)
    instants = [
        t for r in rows for t in (r.created_at, r.first_response_at, r.resolved_at) if t is not None
    ]
    if not instants:
        return {}
    clock = WorkClock(hours, min(instants), max(instants))
    found = {}
    for r in rows:
        first, done = r.first_response_at, r.resolved_at
        found[r.id] = Durations(
            None if first is None else (first - r.created_at).total_seconds(),
            None if first is None else clock.seconds(r.created_at, first),
            None if done is None else (done - r.created_at).total_seconds(),
            None if done is None else clock.seconds(r.created_at, done),
        )
    return found


def breached(row: TicketRow, now: datetime) -> bool:
    if row.due_at is None:
        return False
    if row.first_response_at is None:
        return row.due_at < now
    return row.first_response_at > row.due_at


def _times(rows: list[TicketRow], times: dict[int, Durations]) -> dict[str, Any]:
    def collect(pick: Callable[[Durations], float | None]) -> list[float]:
        return [v for r in rows if (v := pick(times[r.id])) is not None]

    return {
        "first_response": {
            "wall": minutes(collect(lambda d: d.first_wall)),
            "working": minutes(collect(lambda d: d.first_work)),
        },
        "resolution": {
            "wall": minutes(collect(lambda d: d.resolve_wall)),
            "working": minutes(collect(lambda d: d.resolve_work)),
        },
    }


def _summary(rows: list[TicketRow], times: dict[int, Durations], now: datetime) -> dict[str, Any]:
    targeted = [r for r in rows if r.due_at is not None and (r.first_response_at or r.due_at < now)]
    on_time = sum(1 for r in targeted if not breached(r, now))
    resolved = [r for r in rows if r.resolved_at is not None or r.reopened]
    rated = [r.csat_score for r in rows if r.csat_score is not None]
    return {
        "tickets": len(rows),
        "answered": sum(1 for r in rows if r.first_response_at is not None),
        "resolved": sum(1 for r in rows if r.resolved_at is not None),
        "within_target_percent": share(on_time, len(targeted)),
        "reopen_rate_percent": share(sum(1 for r in resolved if r.reopened), len(resolved)),
        "csat_percent": share(sum(1 for s in rated if s >= 4), len(rated)),
        **_times(rows, times),
    }


def _compare(now: dict[str, Any], before: dict[str, Any]) -> dict[str, Any]:
    """The same tree with every number a Figure (value, previous, change)."""
    result: dict[str, Any] = {}
    for key, value in now.items():
        if isinstance(value, dict):
            result[key] = _compare(value, before.get(key, {}))
        else:
            result[key] = Figure(value, before.get(key)).as_dict()
    return result


def _by(rows: list[TicketRow], earlier: list[TicketRow], dimension: str) -> list[dict[str, Any]]:
    now = Counter(str(getattr(r, dimension)) or "—" for r in rows)
    before = Counter(str(getattr(r, dimension)) or "—" for r in earlier)
    keys = sorted(set(now) | set(before), key=lambda k: (-now[k], -before[k], k))
    return [{"key": k, **Figure(now[k], before[k]).as_dict()} for k in keys]


def _staff(rows: list[TicketRow], times: dict[int, Durations]) -> list[dict[str, Any]]:
    by_name: dict[str, list[TicketRow]] = defaultdict(list)
    for r in rows:
        if r.assignee:
            by_name[r.assignee].append(r)
    staff = []
    for name, handled in sorted(by_name.items(), key=lambda item: (-len(item[1]), item[0])):
        firsts = [t for r in handled if (t := times[r.id].first_work) is not None]
        rated = [r.csat_score for r in handled if r.csat_score is not None]
        staff.append(
            {
                "name": name,
                "tickets": len(handled),
                "resolved": sum(1 for r in handled if r.resolved_at is not None),
                "first_response_working_median_minutes": None
                if not firsts
                else round((median(firsts) or 0) / 60, 1),
                "csat_n": len(rated),
                "csat_percent": share(sum(1 for s in rated if s >= 4), len(rated)),
            }
        )
    return staff


def _backlog(rows: list[TicketRow], as_of: datetime) -> dict[str, Any]:
    ages: Counter[str] = Counter()
    for r in rows:
        days = (as_of - r.created_at).total_seconds() / 86400
        label = next(name for name, limit in AGES if limit is None or days < limit)
        ages[label] += 1
    return {
        "as_of": as_of.isoformat(),
        "open": len(rows),
        "by_age": [{"age": name, "tickets": ages[name]} for name, _ in AGES],
    }


def ticket_report(
    window: Window,
    rows: list[TicketRow],
    previous: list[TicketRow],
    backlog: list[TicketRow],
    backlog_at: datetime,
    hours: WorkingHours,
    now: datetime,
    by: str = "week",
) -> dict[str, Any]:
    """Everything `otklik report tickets` shows, as one tree (JSON as it is)."""
    times = durations([*rows, *previous], hours)
    current, earlier = _summary(rows, times, now), _summary(previous, times, now)
    volume = Counter(period_of(r.created_at, by, window.zone) for r in rows)
    late = sorted((r for r in rows if breached(r, now)), key=lambda r: r.id)
    return {
        "report": "tickets",
        "window": window.as_dict(),
        "previous_window": window.previous().as_dict(),
        "summary": _compare(current, earlier),
        "by_period": {
            "by": by,
            "rows": [{"period": p, "tickets": volume[p]} for p in sorted(volume)],
        },
        **{f"by_{d}": _by(rows, previous, d) for d in DIMENSIONS},
        "breaches": {
            "count": len(late),
            "tickets": [
                {
                    "ticket": r.id,
                    "subject": r.subject,
                    "due_at": r.due_at.isoformat() if r.due_at else None,
                    "first_response_at": r.first_response_at.isoformat()
                    if r.first_response_at
                    else None,
                }
                for r in late[:BREACHES_LISTED]
            ],
        },
        "backlog": _backlog(backlog, backlog_at),
        "staff": _staff(rows, times),
    }


def ticket_list(
    rows: list[TicketRow], times: dict[int, Durations], now: datetime
) -> list[dict[str, Any]]:
    """One row per ticket: what a number in the report is made of (the CSV export)."""
    listed = []
    for r in rows:
        d = times.get(r.id)
        listed.append(
            {
                "ticket": r.id,
                "customer": r.customer_id,
                "opened_at": r.created_at.isoformat(),
                "status": r.status,
                "category": r.category,
                "channel": r.channel,
                "priority": r.priority,
                "rule": r.rule,
                "assignee": r.assignee,
                "first_response_minutes": _mins(d.first_wall if d else None),
                "first_response_working_minutes": _mins(d.first_work if d else None),
                "resolution_minutes": _mins(d.resolve_wall if d else None),
                "resolution_working_minutes": _mins(d.resolve_work if d else None),
                "breached": breached(r, now),
                "reopened": r.reopened,
                "csat": r.csat_score,
                "subject": r.subject,
            }
        )
    return listed


def _mins(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 60, 1)


async def build(
    session: AsyncSession,
    hours: WorkingHours,
    window: Window,
    now: datetime,
    by: str = "week",
    as_of: datetime | None = None,
) -> dict[str, Any]:
    """Read what the report needs (three statements) and compute it. The backlog is as of the
    window's end (or `as_of`), never later than now."""
    previous = window.previous()
    backlog_at = min(as_of or window.until, now)
    rows = await tickets_opened(session, window.since, window.until)
    earlier = await tickets_opened(session, previous.since, previous.until)
    backlog = await tickets_open_at(session, backlog_at)
    return ticket_report(window, rows, earlier, backlog, backlog_at, hours, now, by)
