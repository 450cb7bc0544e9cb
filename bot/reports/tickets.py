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
from collections.abc import Iterable
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.hours import WorkingHours
from bot.core.work_clock import working_seconds
from bot.reports.figures import Figure, median, minutes, share
from bot.reports.periods import Window, spans
from storage.repositories import ticket_report
from storage.repositories.ticket_report import (
    DIMENSIONS,
    KeptTimes,
    TicketGroup,
    TicketRow,
    backlog_by_age,
    breaches,
    kept_times,
    ticket_groups,
    tickets_per_span,
)

AGES = (("under 1 day", 1), ("1-3 days", 3), ("3-7 days", 7), ("7-30 days", 30), ("30+ days", None))
BREACHES_LISTED = 50


def age_slug(age: str) -> str:
    """An age bucket as part of a text's key: "1-3 days" -> 1_3_days."""
    return "_".join("".join(c if c.isalnum() else " " for c in age).split())


def _summary(groups: list[TicketGroup], times: KeptTimes) -> dict[str, Any]:
    def total(name: str) -> int:
        return sum(int(getattr(g, name)) for g in groups)

    return {
        "tickets": total("tickets"),
        "answered": total("answered"),
        "resolved": total("resolved"),
        "within_target_percent": share(total("on_time"), total("targeted")),
        "reopen_rate_percent": share(total("reopened"), total("resolved_ever")),
        "csat_percent": share(total("satisfied"), total("rated")),
        "first_response": {
            "wall": minutes(times.first_wall),
            "working": minutes(times.first_work),
        },
        "resolution": {
            "wall": minutes(times.resolve_wall),
            "working": minutes(times.resolve_work),
        },
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


def _tickets_by(groups: Iterable[TicketGroup], dimension: str) -> Counter[str]:
    found: Counter[str] = Counter()
    for g in groups:
        found[str(getattr(g, dimension)) or "—"] += g.tickets
    return found


def _by(
    groups: list[TicketGroup], earlier: list[TicketGroup], dimension: str
) -> list[dict[str, Any]]:
    now, before = _tickets_by(groups, dimension), _tickets_by(earlier, dimension)
    keys = sorted(set(now) | set(before), key=lambda k: (-now[k], -before[k], k))
    return [{"key": k, **Figure(now[k], before[k]).as_dict()} for k in keys]


def _staff(groups: list[TicketGroup], times: KeptTimes) -> list[dict[str, Any]]:
    by_name: dict[str, list[TicketGroup]] = defaultdict(list)
    for g in groups:
        if g.assignee:
            by_name[g.assignee].append(g)
    staff = []
    for name, handled in sorted(
        by_name.items(), key=lambda item: (-sum(g.tickets for g in item[1]), item[0])
    ):
        firsts = times.first_work_by_assignee.get(name, [])
        rated = sum(g.rated for g in handled)
        staff.append(
            {
                "name": name,
                "tickets": sum(g.tickets for g in handled),
                "resolved": sum(g.resolved for g in handled),
                "first_response_working_median_minutes": None
                if not firsts
                else round((median(firsts) or 0) / 60, 1),
                "csat_n": rated,
                "csat_percent": share(sum(g.satisfied for g in handled), rated),
            }
        )
    return staff


async def _backlog(session: AsyncSession, as_of: datetime) -> dict[str, Any]:
    limits = [days for _, days in AGES if days is not None]
    counts = await backlog_by_age(session, as_of, limits)
    return {
        "as_of": as_of.isoformat(),
        "open": sum(counts),
        "by_age": [{"age": name, "tickets": n} for (name, _), n in zip(AGES, counts, strict=True)],
    }


async def build(
    session: AsyncSession,
    hours: WorkingHours,
    window: Window,
    now: datetime,
    by: str = "week",
    as_of: datetime | None = None,
) -> dict[str, Any]:
    """Everything `otklik report tickets` shows, as one tree (JSON as it is). The backlog is as
    of the window's end (or `as_of`), never later than now."""
    previous = window.previous()
    backlog_at = min(as_of or window.until, now)
    groups = await ticket_groups(session, window.since, window.until, now)
    earlier = await ticket_groups(session, previous.since, previous.until, now)
    for span, found in ((window, groups), (previous, earlier)):
        if any(g.unmeasured for g in found):
            measure = partial(working_seconds, hours)
            await ticket_report.fill_missing_times(session, span.since, span.until, measure)
    times = await kept_times(session, window.since, window.until)
    before = await kept_times(session, previous.since, previous.until)
    volume = await tickets_per_span(session, spans(window, by))
    late = await breaches(session, window.since, window.until, now, BREACHES_LISTED)
    return {
        "report": "tickets",
        "window": window.as_dict(),
        "previous_window": previous.as_dict(),
        "summary": _compare(_summary(groups, times), _summary(earlier, before)),
        "by_period": {
            "by": by,
            "rows": [{"period": p, "tickets": volume[p]} for p in sorted(volume)],
        },
        **{f"by_{d}": _by(groups, earlier, d) for d in DIMENSIONS},
        "breaches": {
            "count": sum(g.breached for g in groups),
            "tickets": [
                {
                    "ticket": b.ticket,
                    "subject": b.subject,
                    "due_at": b.due_at.isoformat() if b.due_at else None,
                    "first_response_at": b.first_response_at.isoformat()
                    if b.first_response_at
                    else None,
                }
                for b in late
            ],
        },
        "backlog": await _backlog(session, backlog_at),
        "staff": _staff(groups, times),
    }


def ticket_list(rows: list[TicketRow], now: datetime) -> list[dict[str, Any]]:
    """One row per ticket: what a number in the report is made of (the CSV export)."""
    return [
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
            "first_response_minutes": _mins(r.first_wall),
            "first_response_working_minutes": _mins(r.first_work),
            "resolution_minutes": _mins(r.resolve_wall),
            "resolution_working_minutes": _mins(r.resolve_work),
            "breached": _breached(r, now),
            "reopened": r.reopened,
            "csat": r.csat_score,
            "subject": r.subject,
        }
        for r in rows
    ]


def _breached(row: TicketRow, now: datetime) -> bool:
    """As `ticket_report.breached` says it in SQL."""
    if row.due_at is None:
        return False
    if row.first_response_at is None:
        return row.due_at < now
    return row.first_response_at > row.due_at


def _mins(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 60, 1)
