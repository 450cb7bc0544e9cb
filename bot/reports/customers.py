"""The customer report: who is active, who is new, who we are losing, and whether the ones we
lose were unhappy.

Definitions (README "Reports"; months are UTC calendar months):
- active in a month: wrote to us (any channel) or answered a survey in it; new: their first
  month ever; returning: active and not new;
- churned after a month: active in it and silent in each of the next `churn_months` months
  (`[reports] churn_months`, 1 by default); counted once those months are over;
- churned versus retained: NPS and CSAT of the answers customers gave in the months they
  churned after, against those of the months they stayed on after;
- cohorts: customers by the month they first wrote, and how many of them wrote again in each
  later month.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.scores import csat, nps
from bot.reports.figures import Figure, share
from bot.reports.periods import Window
from storage.repositories import customer_report as rows
from storage.repositories.customer_months import month_index


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


def distinct_active(parts: list[rows.MonthPart], first: str, last: str) -> int:
    """Customers active in any month from `first` to `last`: each is counted in the last of
    those months they were active in, the one whose next active month (its gap) is after
    `last`, or that has none."""
    end = month_index(last)
    return sum(
        part.active
        for part in parts
        if first <= part.month <= last
        and (part.gap is None or month_index(part.month) + part.gap > end)
    )


def _scores(sums: rows.ScoreSums) -> dict[str, Any]:
    result = nps(sums.promoters, sums.detractors, sums.nps_n)
    satisfaction = csat(sums.satisfied, sums.csat_n)
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
    window before it; cohorts of the window's months. A month's churn counts once the
    `churn_months` after it are over."""
    months = months_between(month_label(window.first), month_label(window.last))
    before = [shift(m, -len(months)) for m in months]
    current_month = month_label(today)
    parts = await rows.month_parts(session, before[0], months[-1])
    counts: dict[str, dict[str, int]] = {}
    for part in parts:
        found = counts.setdefault(part.month, {"active": 0, "new": 0, "churned": 0})
        found["active"] += part.active
        found["new"] += part.new
        found["churned"] += part.active if part.churned(churn_months) else 0

    def settled(month: str) -> bool:
        return shift(month, churn_months) < current_month

    def month_row(month: str) -> dict[str, Any]:
        found = counts.get(month, {"active": 0, "new": 0, "churned": 0})
        churned = found["churned"] if settled(month) else None
        return {
            "month": month,
            "active": found["active"],
            "new": found["new"],
            "returning": found["active"] - found["new"],
            "churned": churned,
            "churn_percent": None if churned is None else share(churned, found["active"]),
        }

    def totals(which: list[str]) -> dict[str, Any]:
        done = [counts[m] for m in which if settled(m) and m in counts]
        return {
            "active": distinct_active(parts, which[0], which[-1]),
            "new": sum(counts[m]["new"] for m in which if m in counts),
            "churn_percent": share(sum(c["churned"] for c in done), sum(c["active"] for c in done)),
        }

    # Churned against retained: the scores of the window's months whose churn is settled.
    scores = {True: rows.ScoreSums(), False: rows.ScoreSums()}
    for part in parts:
        if months[0] <= part.month and settled(part.month):
            scores[part.churned(churn_months)] += part.scores
    cohort_counts = await rows.cohorts(session, months[0], months[-1])
    cohorts = [
        {
            "cohort": cohort,
            "size": found.get(cohort, 0),
            "active": [found.get(later, 0) for later in months_between(cohort, months[-1])],
        }
        for cohort, found in sorted(cohort_counts.items())
    ]
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
            "churned": _scores(scores[True]),
            "retained": _scores(scores[False]),
        },
        "cohorts": cohorts,
    }


async def customer_list(
    session: AsyncSession, month: str, which: str, churn_months: int = 1
) -> list[dict[str, Any]]:
    """One row per customer a month's figure counts (active, new, returning, churned)."""
    found = await rows.customers_of_month(session, month, which, churn_months)
    return [
        {
            "customer": c.customer_id,
            "name": c.name,
            "month": month,
            "new": c.new,
            "next_active_month": c.next_month,
        }
        for c in found
    ]


async def churn_answer_list(
    session: AsyncSession, window: Window, today: date, churned: bool, churn_months: int = 1
) -> list[dict[str, Any]]:
    """One row per NPS or CSAT answer behind the churned (or retained) scores: given in the
    window's months whose churn is settled, as the report counts them."""
    months = months_between(month_label(window.first), month_label(window.last))
    current = month_label(today)
    settled = [m for m in months if shift(m, churn_months) < current]
    found = await rows.answers_of_churn(session, settled, churned, churn_months)
    return [
        {
            "answer": a.answer_id,
            "customer": a.customer_id,
            "kind": a.kind,
            "score": a.score,
            "at": a.at.isoformat(),
            "comment": a.comment,
        }
        for a in found
    ]
