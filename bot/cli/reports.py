"""`otklik report nps|csat|ces`: survey metrics from SQL."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, time, timedelta
from typing import Any

from bot.cli.arguments import day
from bot.cli.group import CommandGroup
from bot.config import Settings
from bot.database import command_database
from bot.reports import rate_rows, render, rows_for
from storage.repositories.reports import ReportFilter, flagged_count, response_rates, score_counts


def add_parsers(commands: Any, common: argparse.ArgumentParser) -> None:
    report = commands.add_parser(
        "report",
        parents=[common],
        help="NPS, CSAT or CES with trend",
        description="NPS = 100·(P − D)/N with its 95% margin of error (N < 30 is marked low "
        "confidence); CSAT = share of 4-5; CES = mean and share of 5-7. Skipped questions are "
        "not counted. response-rate = answered / delivered, per campaign.",
    )
    report.add_argument("metric", choices=["nps", "csat", "ces", "response-rate"])
    report.add_argument("--from", dest="since", type=day, help="first day, YYYY-MM-DD (UTC)")
    report.add_argument("--to", dest="until", type=day, help="last day, inclusive")
    report.add_argument("--campaign", type=int, help="only this campaign id")
    report.add_argument("--channel", help="only this channel (telegram, webchat, ...)")
    report.add_argument("--by", choices=["week", "month"], help="one row per period")
    report.add_argument("--format", choices=["text", "json", "csv"], default="text")


async def run(settings: Settings, args: argparse.Namespace) -> int:
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
    sys.stdout.write(render(args.metric, rows, args.format))
    if args.metric != "response-rate" and left_out:
        # Beside the table, never in it: JSON and CSV stay what their readers parse.
        print(LEFT_OUT.format(count=left_out), file=sys.stderr if args.format != "text" else None)
    return 0


LEFT_OUT = (
    "{count} answers left out: they look like a mail scanner's clicks, not a person's "
    "(README, Survey links)"
)


GROUP = CommandGroup(("report",), add_parsers, run, needs_action=False)
