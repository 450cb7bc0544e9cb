"""The monthly report to admins (seed 002): last month's headline of every report (NPS with its
margin and change, CSAT, CES, complaints, reply times, deflection, churn, the detractors' top
themes, response rates) as text, and one image of the headlines with the six-month NPS trend
and the complaints per week. Sent once per month, remembered in SQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.core.delivery.outbox import Outbox, ReplyBuffer
from bot.core.hours import WorkingHours
from bot.core.messages import Reply
from bot.reports import customers, self_service, themes, tickets
from bot.reports.charts import Tile, headline_png
from bot.reports.customers import month_label, shift
from bot.reports.figures import nps_change
from bot.reports.periods import Window
from bot.reports.surveys import rate_rows, render, rows_for
from storage.models import JobRun, utcnow
from storage.repositories._upsert import insert_ignore
from storage.repositories.reports import ReportFilter, response_rates, score_counts

JOB = "monthly_report"


def _first_of(month: str) -> date:
    return date(int(month[:4]), int(month[5:7]), 1)


def _figure(node: dict[str, Any], unit: str = "") -> str:
    value, previous, change = node["value"], node["previous"], node["change"]
    if value is None:
        return "—"
    text = f"{value:g}{unit}"
    if previous is not None and change is not None:
        text += f" ({'+' if change > 0 else ''}{change:g} on the month before)"
    return text


async def _nps_headline(
    session: AsyncSession, since: datetime, until: datetime
) -> tuple[str, Tile]:
    """NPS with its margin, beside the month before: the change is called significant only
    when it exceeds the combined margin of error."""
    before_since = _month_start(
        since.year - (1 if since.month == 1 else 0), (since.month - 2) % 12 + 1
    )
    found = rows_for("nps", await score_counts(session, ReportFilter("nps", since, until)))
    earlier = rows_for("nps", await score_counts(session, ReportFilter("nps", before_since, since)))
    now_row = found[0] if found else None
    before_row = earlier[0] if earlier else None
    if now_row is None or now_row["nps"] is None:
        return "NPS: no answers in this range", Tile("NPS", "—", "no answers")
    line = render("nps", [now_row], "text").strip().removeprefix("all").strip()
    margin = f"±{now_row['margin_95']:.1f}" if now_row["margin_95"] is not None else ""
    value = f"{now_row['nps']:+.1f}"
    if before_row is None or before_row["nps"] is None:
        return line, Tile("NPS", value, margin)
    change = nps_change(
        now_row["nps"], now_row["margin_95"], before_row["nps"], before_row["margin_95"]
    )
    verdict = "significant" if change.significant else "within the margin of error"
    note = f"{margin}, change {change.change:+.1f}"
    return (
        f"{line}\n  the month before {before_row['nps']:+.1f}; change {change.change:+.1f} "
        f"against a combined margin of ±{change.combined_margin:.1f}: {verdict}",
        Tile("NPS", value, note),
    )


def _tile(label: str, node: dict[str, Any], unit: str = "") -> Tile:
    """A figure beside the month before as a headline tile."""
    value, change = node["value"], node["change"]
    if value is None:
        return Tile(label, "—")
    note = "" if change is None else f"{'+' if change > 0 else ''}{change:g}{unit} on the month"
    return Tile(label, f"{value:g}{unit}", note)


def _month_start(year: int, month: int) -> datetime:
    return datetime(year, month, 1, tzinfo=UTC)


def _previous_month(now: datetime) -> tuple[datetime, datetime]:
    first_this = _month_start(now.year, now.month)
    year, month = (now.year, now.month - 1) if now.month > 1 else (now.year - 1, 12)
    return _month_start(year, month), first_this


async def build(
    session: AsyncSession, now: datetime, hours: WorkingHours, churn_months: int = 1
) -> list[Reply]:
    """The headline of each report for last month beside the month before, and the NPS trend
    as one image."""
    since, until = _previous_month(now)
    lines = [f"Monthly report for {since:%Y-%m}"]
    nps_line, nps_tile = await _nps_headline(session, since, until)
    lines.append(nps_line)
    for kind in ("csat", "ces"):
        rows = rows_for(kind, await score_counts(session, ReportFilter(kind, since, until)))
        line = render(kind, rows, "text").strip()
        lines.append(line.removeprefix("all").strip())  # one period, so no period column
    month = Window(since.date(), (until - timedelta(days=1)).date(), hours.zone)
    ticket_report = await tickets.build(session, hours, month, now, by="week")
    summary = ticket_report["summary"]
    first = summary["first_response"]["working"]["median"]
    lines.append(
        f"Complaints: {_figure(summary['tickets'])}; first reply (working hours) median "
        f"{_figure(first, ' min')}; within target {_figure(summary['within_target_percent'], '%')}"
    )
    faq = await self_service.build(session, month, by="month")
    lines.append(
        f"FAQ deflection: {_figure(faq['summary']['deflection_percent'], '%')} of "
        f"{faq['summary']['questions']['value']} questions"
    )
    settled = shift(month_label(since.date()), -churn_months)
    found = await customers.build(
        session,
        Window(_first_of(settled), _first_of(settled), hours.zone),
        now.date(),
        churn_months,
    )
    (row,) = found["months"]
    churn_tile = Tile("Churn", "—", f"of those active in {settled}")
    if row["churn_percent"] is not None:
        churn_tile = Tile("Churn", f"{row['churn_percent']:g}%", f"of {row['active']} in {settled}")
        lines.append(
            f"Churn: {row['churned']} of {row['active']} customers active in {settled} "
            f"({row['churn_percent']:g}%) wrote nothing in the {churn_months} month(s) after"
        )
    said = await themes.build(session, month)
    top = said["groups"]["detractors"]["themes"][:3]
    if top:
        lines.append(
            "Detractors talk about: "
            + "; ".join(f"{theme['theme']} ({theme['count']})" for theme in top)
        )
    rates = rate_rows(await response_rates(session))
    if rates:
        lines.append("Response rates:")
        lines.append(render("response-rate", rates, "text").strip())
    trend_since = _month_start(
        since.year - (1 if since.month <= 5 else 0), (since.month - 6) % 12 + 1
    )
    trend = rows_for(
        "nps", await score_counts(session, ReportFilter("nps", trend_since, until, by="week"))
    )
    tiles = [
        nps_tile,
        _tile("Complaints", summary["tickets"]),
        _tile("First reply, median", first, " min"),
        _tile("FAQ deflection", faq["summary"]["deflection_percent"], "%"),
        churn_tile,
    ]
    chart = headline_png(
        f"Otklik · {since:%Y-%m}",
        tiles,
        trend,
        f"NPS by week, {trend_since:%Y-%m} to {since:%Y-%m}, with the 95% margin",
        [(r["period"], r["tickets"]) for r in ticket_report["by_period"]["rows"]],
        "Complaints by week (the week's Monday)",
    )
    return [Reply("\n".join(lines)), Reply("", image=chart)]


async def send_monthly_report(
    session_pool: async_sessionmaker[AsyncSession],
    outbox: Outbox,
    admin_ids: list[int],
    hours: WorkingHours,
    channel: str,
    clock: Callable[[], datetime] = utcnow,
    churn_months: int = 1,
) -> bool:
    """Queue last month's report for every admin (on `channel`, where admins are) unless it
    went out already; True if queued."""
    if not admin_ids:
        return False
    now = clock()
    since, _ = _previous_month(now)
    async with session_pool() as session, session.begin():
        claimed = await insert_ignore(
            session,
            JobRun.__table__,  # type: ignore[arg-type]
            {"name": JOB, "period": f"{since:%Y-%m}", "created_at": now},
            ["name", "period"],
        )
        if claimed is None:
            return False
        buffer = ReplyBuffer()
        replies = await build(session, now, hours, churn_months)
        for admin in admin_ids:
            buffer.extend(channel, str(admin), replies)
        queued = await outbox.enqueue(session, buffer)
    await outbox.deliver(queued)
    return True
