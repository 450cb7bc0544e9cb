"""The customer report: who is active, who is new, who we are losing, and whether the ones we
lose were unhappy.

Definitions (README "Reports"; months are UTC calendar months):
- active in a month: wrote to us (any channel) in it; new: the first month they ever wrote;
  returning: active and not new;
- churned after a month: active in it and silent in each of the next `churn_months` months
  (`[reports] churn_months`, 1 by default); counted once those months are over;
- churned versus retained: NPS and CSAT of the answers those customers gave in the month
  they were last active;
- cohorts: customers by the month they first wrote, and how many of them wrote again in each
  later month.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.scores import csat, nps
from bot.reports.figures import Figure, share
from bot.reports.periods import Window
from storage.repositories import customer_report as rows


def month_label(day: date) -> str:
    return f"{day:%Y-%m}"


def shift(month: str, months: int) -> str:
    year, number = int(month[:4]), int(month[5:7]) - 1 + months
    return f"{year + number // 12:04d}-{number % 12 + 1:02d}"


def months_between(first: str, last: str) -> list[str]:
    found, month = [], first
    while month <= last:
        found.append(month)
        month = shift(month, 1)
    return found


def _start(month: str) -> datetime:
    return datetime(int(month[:4]), int(month[5:7]), 1, tzinfo=UTC)


def _following(by_month: dict[str, set[int]], month: str, churn_months: int) -> set[int]:
    """Customers active in any of the `churn_months` months after `month`."""
    return set().union(*(by_month.get(shift(month, k), set()) for k in range(1, churn_months + 1)))


def _scores(answers: list[tuple[str, int]]) -> dict[str, Any]:
    promoters = sum(1 for k, s in answers if k == "nps" and s >= 9)
    detractors = sum(1 for k, s in answers if k == "nps" and s <= 6)
    scored = sum(1 for k, _ in answers if k == "nps")
    result = nps(promoters, detractors, scored)
    rated = [s for k, s in answers if k == "csat"]
    satisfaction = csat(sum(1 for s in rated if s >= 4), len(rated))
    return {
        "nps_n": result.n,
        "nps": None if result.score is None else round(result.score, 1),
        "nps_margin_95": None if result.margin is None else round(result.margin, 1),
        "csat_n": satisfaction.n,
        "csat_percent": None if satisfaction.percent is None else round(satisfaction.percent, 1),
    }


async def build(
    session: AsyncSession, window: Window, today: date, churn_months: int = 1
) -> dict[str, Any]:
    """Months overlapped by the window, each with its activity and churn; the same for the
    window before it; cohorts of the window's months."""
    months = months_between(month_label(window.first), month_label(window.last))
    before = [shift(m, -len(months)) for m in months]
    current_month = month_label(today)
    active = await rows.active_months(session, before[0], shift(months[-1], churn_months))
    by_month: dict[str, set[int]] = defaultdict(set)
    for customer, month in active:
        by_month[month].add(customer)
    firsts = await rows.first_months(session, before[0], months[-1])

    def month_row(month: str) -> dict[str, Any]:
        present = by_month.get(month, set())
        new = sum(1 for c in present if firsts.get(c) == month)
        over = shift(month, churn_months) < current_month
        churned = present - _following(by_month, month, churn_months) if over else None
        return {
            "month": month,
            "active": len(present),
            "new": new,
            "returning": len(present) - new,
            "churned": None if churned is None else len(churned),
            "churn_percent": None if churned is None else share(len(churned), len(present)),
        }

    def totals(which: list[str]) -> dict[str, Any]:
        listed = [month_row(m) for m in which]
        present = set().union(*(by_month.get(m, set()) for m in which))
        settled = [r for r in listed if r["churned"] is not None]
        return {
            "active": len(present),
            "new": sum(1 for c in present if firsts.get(c, "") >= which[0]),
            "churn_percent": share(
                sum(r["churned"] for r in settled), sum(r["active"] for r in settled)
            ),
        }

    # Churned versus retained: the answers each gave in the month they churned after, or
    # (retained) in a month they stayed on after.
    settled: dict[tuple[int, str], bool] = {}  # (customer, month) -> churned after it
    for month in months:
        if shift(month, churn_months) < current_month:
            following = _following(by_month, month, churn_months)
            for customer in by_month.get(month, set()):
                settled[customer, month] = customer not in following
    answers = await rows.scored_answers(session, _start(months[0]), _start(shift(months[-1], 1)))
    grouped: dict[bool, list[tuple[str, int]]] = {True: [], False: []}
    for customer, kind, score, at in answers:
        churned = settled.get((customer, month_label(at.astimezone(UTC).date())))
        if churned is not None:
            grouped[churned].append((kind, score))

    cohorts = []
    for month in months:
        members = {c for c, first in firsts.items() if first == month}
        if not members:
            continue
        cohorts.append(
            {
                "cohort": month,
                "size": len(members),
                "active": [
                    len(members & by_month.get(later, set()))
                    for later in months_between(month, months[-1])
                ],
            }
        )
    now_totals, before_totals = totals(months), totals(before)
    return {
        "report": "customers",
        "window": {"from": months[0], "to": months[-1], "zone": "UTC"},
        "previous_window": {"from": before[0], "to": before[-1], "zone": "UTC"},
        "churn_months": churn_months,
        "churn_definition": (
            f"active in a month and silent in the next {churn_months} month(s); "
            "counted once those months are over"
        ),
        "summary": {k: Figure(v, before_totals[k]).as_dict() for k, v in now_totals.items()},
        "months": [month_row(m) for m in months],
        "churned_vs_retained": {
            "churned": _scores(grouped[True]),
            "retained": _scores(grouped[False]),
        },
        "cohorts": cohorts,
    }
