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

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.hours import WorkingHours
from bot.core.work_clock import working_seconds
from bot.reports.figures import Figure, in_minutes, share
from bot.reports.periods import Window, spans
from storage.repositories import ticket_report
from storage.repositories.ticket_report import (
    DIMENSIONS,
    TicketRow,
    backlog_by_age,
    breaches,
    rule_names,
)
from storage.repositories.ticket_rollups import (
    BY_ASSIGNEE,
    Counts,
    Durations,
    Marginals,
    Series,
    durations,
    overdue_unanswered,
    ticket_counts,
    tickets_per_span,
)

AGES = (("under 1 day", 1), ("1-3 days", 3), ("3-7 days", 7), ("7-30 days", 30), ("30+ days", None))
BREACHES_LISTED = 50
OVERALL: tuple[Series, ...] = (
    ("first_wall", None),
    ("first_work", None),
    ("resolve_wall", None),
    ("resolve_work", None),
)


def age_slug(age: str) -> str:
    """An age bucket as part of a text's key: "1-3 days" -> 1_3_days."""
    return "_".join("".join(c if c.isalnum() else " " for c in age).split())


@dataclass
class Period:
    """What one window's figures are computed from."""

    counts: Marginals
    overdue: int  # unanswered and past due now: within no target, a breach
    times: dict[Series, Durations]

    @property
    def total(self) -> Counts:
        found = Counts()
        for counts in self.counts["category"].values():
            found.add(counts)
        return found


def _minutes(times: Durations) -> dict[str, float | None]:
    return in_minutes(times.n, times.median, times.p90, times.mean)


def _summary(period: Period) -> dict[str, Any]:
    total = period.total
    return {
        "tickets": total.tickets,
        "answered": total.answered,
        "resolved": total.resolved,
        "within_target_percent": share(total.on_time, total.answered_due + period.overdue),
        "reopen_rate_percent": share(total.reopened, total.resolved_ever),
        "csat_percent": share(total.satisfied, total.rated),
        "first_response": {
            "wall": _minutes(period.times[("first_wall", None)]),
            "working": _minutes(period.times[("first_work", None)]),
        },
        "resolution": {
            "wall": _minutes(period.times[("resolve_wall", None)]),
            "working": _minutes(period.times[("resolve_work", None)]),
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


def _by(now: Period, before: Period, dimension: str) -> list[dict[str, Any]]:
    def tickets(period: Period) -> dict[str, int]:
        return {k or "—": c.tickets for k, c in period.counts[dimension].items() if c.tickets}

    this, that = tickets(now), tickets(before)
    keys = sorted(set(this) | set(that), key=lambda k: (-this.get(k, 0), -that.get(k, 0), k))
    return [{"key": k, **Figure(this.get(k, 0), that.get(k, 0)).as_dict()} for k in keys]


def _staff(period: Period) -> list[dict[str, Any]]:
    handled = {name: c for name, c in period.counts["assignee"].items() if name and c.tickets}
    staff = []
    for name, counts in sorted(handled.items(), key=lambda item: (-item[1].tickets, item[0])):
        firsts = period.times[(BY_ASSIGNEE, name)]
        staff.append(
            {
                "name": name,
                "tickets": counts.tickets,
                "resolved": counts.resolved,
                "first_response_working_median_minutes": None
                if firsts.median is None
                else round(firsts.median / 60, 1),
                "csat_n": counts.rated,
                "csat_percent": share(counts.satisfied, counts.rated),
            }
        )
    return staff


async def _period(
    session: AsyncSession, hours: WorkingHours, window: Window, now: datetime
) -> Period:
    counts = await ticket_counts(session, window.since, window.until)
    if any(c.unmeasured for c in counts["category"].values()):
        measure = partial(working_seconds, hours)
        await ticket_report.fill_missing_times(session, window.since, window.until, measure)
    counts["rule"] = _named_rules(counts["rule"], await rule_names(session))
    staff = [(BY_ASSIGNEE, name) for name, c in counts["assignee"].items() if name and c.tickets]
    return Period(
        counts,
        await overdue_unanswered(session, window.since, window.until, now),
        await durations(session, window.since, window.until, [*OVERALL, *staff]),
    )


def _named_rules(by_id: dict[str, Counts], names: dict[int, str]) -> dict[str, Counts]:
    """Rules by name; a rule since deleted counts with the tickets no rule matched."""
    found: dict[str, Counts] = defaultdict(Counts)
    for rule_id, counts in by_id.items():
        found[names.get(int(rule_id), "") if rule_id else ""].add(counts)
    return dict(found)


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
    this = await _period(session, hours, window, now)
    before = await _period(session, hours, previous, now)
    volume = await tickets_per_span(session, spans(window, by))
    late = await breaches(session, window.since, window.until, now, BREACHES_LISTED)
    return {
        "report": "tickets",
        "window": window.as_dict(),
        "previous_window": previous.as_dict(),
        "summary": _compare(_summary(this), _summary(before)),
        "by_period": {
            "by": by,
            "rows": [{"period": p, "tickets": volume[p]} for p in sorted(volume)],
        },
        **{f"by_{d}": _by(this, before, d) for d in DIMENSIONS},
        "breaches": {
            "count": this.total.late_answer + this.overdue,
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
        "staff": _staff(this),
    }


def ticket_list(rows: list[TicketRow]) -> list[dict[str, Any]]:
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
            "breached": r.breached,
            "reopened": r.reopened,
            "csat": r.csat_score,
            "subject": r.subject,
        }
        for r in rows
    ]


def _mins(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 60, 1)
