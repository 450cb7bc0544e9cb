"""`otklik report nps|csat|ces|response-rate|tickets|faq|customers|themes`: metrics from SQL,
and the tickets or FAQ answers behind a number (`--rows`)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

from bot.cli.arguments import day
from bot.cli.group import CommandGroup
from bot.config import Settings
from bot.core.hours import parse_schedule
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
        if args.rows and args.metric == "customers":
            chosen = manager.CustomerFilter(
                month=args.month,
                which=args.which,
                churned={"yes": True, "no": False}.get(args.churned or ""),
            )
            try:
                listed = await manager.customer_rows(
                    session, ask, hours, now, chosen, settings.reports.churn_months
                )
            except WindowError as exc:
                print(f"--month: {exc}", file=sys.stderr)
                return 2
            sys.stdout.write(
                render.as_json({"rows": listed})
                if args.format == "json"
                else render.as_csv(listed)
                if args.format == "csv"
                else "".join(_customer_line(r) for r in listed) or "none\n"
            )
            return 0
        if args.rows and args.metric == "themes":
            texts = await manager.theme_rows(
                session, ask, hours, now, args.group or "detractors", args.phrase
            )
            sys.stdout.write(
                render.as_json({"texts": texts})
                if args.format == "json"
                else render.as_csv(texts)
                if args.format == "csv"
                else "".join(_text_line(r) for r in texts) or "no texts\n"
            )
            return 0
        if args.rows and args.metric == "faq":
            answers = await manager.faq_answer_rows(
                session,
                ask,
                hours,
                now,
                manager.AnswerFilter(args.entry, {"yes": True, "no": False}.get(args.followed)),
            )
            sys.stdout.write(
                render.as_json({"answers": answers})
                if args.format == "json"
                else render.as_csv(answers)
                if args.format == "csv"
                else "".join(_answer_line(r) for r in answers) or "no answers\n"
            )
            return 0
        if args.rows:
            keep = manager.TicketFilter(
                category=args.category,
                channel=args.channel,
                assignee=args.assignee,
                breached=True if args.breached else None,
            )
            rows = await manager.ticket_rows(session, ask, hours, now, keep)
            sys.stdout.write(
                render.as_json({"tickets": rows})
                if args.format == "json"
                else render.as_csv(rows)
                if args.format == "csv"
                else "".join(_ticket_line(r) for r in rows) or "no tickets\n"
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
