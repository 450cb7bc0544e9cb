"""The monthly report to admins (seed 002): last month's NPS, CSAT, CES and response rates as
text, and a six-month NPS trend as a chart. Sent once per month, remembered in SQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channels.telegram.sender import CHANNEL
from bot.core.delivery.outbox import Outbox, ReplyBuffer
from bot.core.messages import Reply
from bot.reports.charts import trend_png
from bot.reports.surveys import rate_rows, render, rows_for
from storage.models import JobRun, utcnow
from storage.repositories._upsert import insert_ignore
from storage.repositories.reports import ReportFilter, response_rates, score_counts

JOB = "monthly_report"


def _month_start(year: int, month: int) -> datetime:
    return datetime(year, month, 1, tzinfo=UTC)


def _previous_month(now: datetime) -> tuple[datetime, datetime]:
    first_this = _month_start(now.year, now.month)
    year, month = (now.year, now.month - 1) if now.month > 1 else (now.year - 1, 12)
    return _month_start(year, month), first_this


async def build(session: AsyncSession, now: datetime) -> list[Reply]:
    since, until = _previous_month(now)
    lines = [f"Monthly report for {since:%Y-%m}"]
    for kind in ("nps", "csat", "ces"):
        rows = rows_for(kind, await score_counts(session, ReportFilter(kind, since, until)))
        line = render(kind, rows, "text").strip()
        lines.append(line.removeprefix("all").strip())  # one period, so no period column
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
    chart = trend_png("nps", trend, f"NPS by week, {trend_since:%Y-%m} to {since:%Y-%m}")
    return [Reply("\n".join(lines)), Reply("", image=chart)]


async def send_monthly_report(
    session_pool: async_sessionmaker[AsyncSession],
    outbox: Outbox,
    admin_ids: list[int],
    clock: Callable[[], datetime] = utcnow,
) -> bool:
    """Queue last month's report for every admin unless it went out already; True if queued."""
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
        replies = await build(session, now)
        for admin in admin_ids:
            buffer.extend(CHANNEL, str(admin), replies)
        queued = await outbox.enqueue(session, buffer)
    await outbox.deliver(queued)
    return True
