"""`otklik report nps|csat|ces|response-rate|tickets|faq|customers|themes`: metrics from SQL,
and the tickets or FAQ answers behind a number (`--rows`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.cli.arguments import day
from bot.cli.group import CommandGroup
from bot.config import Settings
from bot.core.hours import WorkingHours, parse_schedule
from bot.core.live_hours import config_in_effect
from bot.database import command_database
from bot.reports import manager, render, themes
from bot.reports.periods import PERIODS, WindowError
from bot.reports.report_charts import report_png
from bot.reports.surveys import rate_rows, rows_for
from bot.reports.surveys import render as render_survey
from storage.models import utcnow
from storage.repositories.customer_report import CUSTOMER_SETS
from storage.repositories.reports import ReportFilter, flagged_count, response_rates, score_counts

SURVEYS = ("nps", "csat", "ces", "response-rate")


def add_parsers(commands: Any, common: argparse.ArgumentParser) -> None:
    report = commands.add_parser(
        "report",
        parents=[common],
        help="NPS, CSAT, CES; tickets, FAQ self-service, customers and churn",
        description="Surveys: NPS = 100·(P − D)/N with its 95% margin of error (N < 30 is "
        "marked low confidence); CSAT = share of 4-5; CES = mean and share of 5-7; "
        "response-rate = answered / delivered, per campaign (days in UTC). "
        "tickets: volume, first reply and resolution (median, p90, mean; wall clock and "
        "working hours), within target, breaches, reopens, backlog by age, per staff member. "
        "faq: deflection (an FAQ answer with no ticket within 24 h), helpfulness per entry. "
        "customers: active, new, returning, churn ([reports] churn_months), cohorts. "
        "Each of these beside the previous period of the same length, days in [hours] "
        "timezone; by default the last 30 days (customers: the last six months). "
        "README, Reports, defines every figure.",
    )
    report.add_argument("metric", choices=[*SURVEYS, *manager.KINDS])
    report.add_argument("--from", dest="since", type=day, help="first day, YYYY-MM-DD")
    report.add_argument("--to", dest="until", type=day, help="last day, inclusive")
    report.add_argument("--campaign", type=int, help="surveys: only this campaign id")
    report.add_argument("--channel", help="only this channel (telegram, webchat, email, ...)")
    report.add_argument(
        "--by", choices=PERIODS, help="one row per period (surveys: week or month; default week)"
    )
    report.add_argument("--format", choices=["text", "json", "csv"], default="text")
    report.add_argument("--as-of", type=day, help="tickets: the backlog at the end of this day")
    report.add_argument(
        "--chart",
        type=Path,
        metavar="FILE.png",
        help="tickets, faq, customers, themes: also write the report's chart as PNG",
    )
    report.add_argument(
        "--rows",
        action="store_true",
        help="tickets: one row per ticket instead of the figures (with --category, "
        "--assignee, --channel, --breached to narrow them); faq: one row per FAQ answer "
        "(with --entry, --followed); themes: the answers or tickets of one theme (with "
        "--group and --phrase)",
    )
    report.add_argument("--category", help="tickets --rows: only this category")
    report.add_argument("--assignee", help="tickets --rows: only this staff member")
    report.add_argument("--breached", action="store_true", help="tickets --rows: only breaches")
    report.add_argument("--entry", type=int, help="faq --rows: only this FAQ entry's answers")
    report.add_argument(
        "--group", choices=themes.GROUPS, help="themes --rows: whose texts (default detractors)"
    )
    report.add_argument(
        "--phrase", help="themes --rows: the theme, as the report shows it or its phrase field"
    )
    report.add_argument(
        "--month",
        help="customers --rows: the customers of this month (YYYY-MM), with --which",
    )
    report.add_argument(
        "--which",
        choices=CUSTOMER_SETS,
        default="active",
        help="customers --rows --month: which of the month's customers (default active)",
    )
    report.add_argument(
        "--churned",
        choices=["yes", "no"],
        help="customers --rows: the NPS and CSAT answers of churned (yes) or retained (no) "
        "customers instead of a month's customers",
    )
    report.add_argument(
        "--followed",
        choices=["yes", "no"],
        help="faq --rows: only answers a ticket followed within 24 h (yes) or the deflected (no)",
    )


async def run(settings: Settings, args: argparse.Namespace) -> int:
    if args.metric in manager.KINDS:
        return await _manager_report(settings, args)
    if args.by not in (None, "week", "month"):
        print(f"--by {args.by}: survey reports go by week or month", file=sys.stderr)
        return 2
    report = ReportFilter(
        kind=args.metric,
        since=datetime.combine(args.since, time(), UTC) if args.since else None,
        until=datetime.combine(args.until + timedelta(days=1), time(), UTC) if args.until else None,
        campaign_id=args.campaign,
        channel=args.channel,
        by=args.by,
    )
    left_out = 0
    async with command_database(settings.database) as pool, pool() as session:
        if args.metric == "response-rate":
            rows = rate_rows(await response_rates(session, args.campaign))
        else:
            rows = rows_for(args.metric, await score_counts(session, report))
            left_out = await flagged_count(session, report)
    sys.stdout.write(render_survey(args.metric, rows, args.format))
    if args.metric != "response-rate" and left_out:
        # Beside the table, never in it: JSON and CSV stay what their readers parse.
        print(LEFT_OUT.format(count=left_out), file=sys.stderr if args.format != "text" else None)
    return 0


async def _manager_report(settings: Settings, args: argparse.Namespace) -> int:
    if args.rows and args.metric not in manager.KINDS:
        print("--rows: only for the tickets, faq, customers and themes reports", file=sys.stderr)
        return 2
    if args.rows and args.metric == "customers" and not (args.month or args.churned):
        print(
            "customers --rows: --month YYYY-MM (with --which) or --churned yes|no", file=sys.stderr
        )
        return 2
    if args.rows and args.metric == "themes" and not (args.phrase or "").strip():
        print("themes --rows: --phrase names the theme (as the report shows it)", file=sys.stderr)
        return 2
    if args.since and args.until and args.since > args.until:
        print("--from is after --to", file=sys.stderr)
        return 2
    hours = parse_schedule(settings.hours)
    ask = manager.ReportAsk(args.metric, args.since, args.until, args.by or "week", args.as_of)
    now = utcnow()
    try:
        manager.default_window(ask, hours, now)
    except WindowError as exc:
        print(f"--from/--to: {exc}", file=sys.stderr)
        return 2
    async with command_database(settings.database) as pool, pool() as session:
        hours = parse_schedule(await config_in_effect(session, settings.hours))
        if args.rows:
            try:
                listed = await _rows(session, args, ask, hours, now, settings)
            except WindowError as exc:
                print(f"--month: {exc}", file=sys.stderr)
                return 2
            key, line, none = ROW_TEXT[args.metric]
            sys.stdout.write(
                render.as_json({key: listed})
                if args.format == "json"
                else render.as_csv(listed)
                if args.format == "csv"
                else "".join(line(r) for r in listed) or f"{none}\n"
            )
            return 0
        found = await manager.build(session, ask, hours, now, settings.reports.churn_months)
    if args.chart is not None:
        try:
            args.chart.write_bytes(report_png(found))
        except OSError as exc:
            print(f"--chart: cannot write {args.chart}: {exc.strerror}", file=sys.stderr)
            return 1
    if args.format == "json":
        sys.stdout.write(render.as_json(found))
    elif args.format == "csv":
        sys.stdout.write(render.as_csv(render.figure_rows(found)))
    else:
        sys.stdout.write(render.TEXT[args.metric](found))
    return 0


async def _rows(
    session: AsyncSession,
    args: argparse.Namespace,
    ask: manager.ReportAsk,
    hours: WorkingHours,
    now: datetime,
    settings: Settings,
) -> list[dict[str, Any]]:
    """The tickets, answers, texts or customers behind a number, as the options narrow them."""
    yes_no = {"yes": True, "no": False}
    if args.metric == "customers":
        chosen = manager.CustomerFilter(args.month, args.which, yes_no.get(args.churned or ""))
        return await manager.customer_rows(
            session, ask, hours, now, chosen, settings.reports.churn_months
        )
    if args.metric == "themes":
        group = args.group or "detractors"
        return await manager.theme_rows(session, ask, hours, now, group, args.phrase)
    if args.metric == "faq":
        answers = manager.AnswerFilter(args.entry, yes_no.get(args.followed or ""))
        return await manager.faq_answer_rows(session, ask, hours, now, answers)
    keep = manager.TicketFilter(
        category=args.category,
        channel=args.channel,
        assignee=args.assignee,
        breached=True if args.breached else None,
    )
    return await manager.ticket_rows(session, ask, hours, now, keep)


def _ticket_line(row: dict[str, Any]) -> str:
    first = row["first_response_working_minutes"]
    return (
        f"#{row['ticket']:<6} {row['opened_at'][:16]}  {row['status']:8} {row['category'][:14]:14} "
        f"{row['assignee'][:14] or '—':14} first reply "
        f"{'—' if first is None else f'{first:g} min'}{'  LATE' if row['breached'] else ''}"
        f"  {row['subject'][:40]}\n"
    )


LEFT_OUT = (
    "{count} answers left out: they look like a mail scanner's clicks, not a person's "
    "(README, Survey links)"
)


GROUP = CommandGroup(("report",), add_parsers, run, needs_action=False)


def _answer_line(row: dict[str, Any]) -> str:
    ticket = "  ticket within 24 h" if row["ticket_within_24h"] else ""
    when = row["answered_at"][:16].replace("T", " ")
    return f"{when}  {row['slug'][:24]:24} customer #{row['customer']}{ticket}\n"


def _text_line(row: dict[str, Any]) -> str:
    when = row["at"][:16].replace("T", " ")
    said = " ".join(row["text"].split())[:100]
    source = f"ticket #{row['id']}" if row["source"] == "ticket" else f"score {row['score']}"
    return f"{when}  {source:10}  {said}\n"


def _customer_line(row: dict[str, Any]) -> str:
    if "answer" in row:
        said = " ".join(row["comment"].split())[:80]
        score = f"{row['kind'].upper()} {row['score']:>2}"
        return f"{row['at'][:10]}  #{row['customer']:<6} {score}  {said}\n"
    later = row["next_active_month"] or "—"
    new = "new" if row["new"] else "   "
    return f"#{row['customer']:<6} {row['name'][:30]:30} {new}  next {later}\n"


# Per report: the JSON key of its rows, a row as a line of text, and the line when none.
ROW_TEXT: dict[str, tuple[str, Callable[[dict[str, Any]], str], str]] = {
    "tickets": ("tickets", _ticket_line, "no tickets"),
    "faq": ("answers", _answer_line, "no answers"),
    "themes": ("texts", _text_line, "no texts"),
    "customers": ("rows", _customer_line, "none"),
}
