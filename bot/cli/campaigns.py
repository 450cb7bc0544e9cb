"""`otklik survey ...` and `otklik campaign ...`."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import segno

from bot.campaigns import service
from bot.campaigns.audience import describe_skips, skipped_of
from bot.campaigns.progress import progress
from bot.cli.arguments import moment
from bot.cli.group import CommandError, CommandGroup
from bot.config import Settings
from bot.database import command_database
from bot.links.signing_key import signer_in
from storage.models import Campaign, Customer

ACTIONS = ("list", "show", "status", "start", "pause", "resume", "cancel")


def add_parsers(commands: Any, common: argparse.ArgumentParser) -> None:
    survey = commands.add_parser(
        "survey", parents=[common], help="create and list surveys (NPS, CSAT, CES, custom)"
    )
    actions = survey.add_subparsers(dest="action", metavar="ACTION")
    create = actions.add_parser("create", parents=[common], help="create a survey")
    create.add_argument("name")
    create.add_argument("--kind", required=True, choices=service.KINDS)
    create.add_argument("--anonymous", action="store_true", help="store no link to the customer")
    create.add_argument(
        "--texts",
        default="{}",
        help='JSON: {"question": {"ru": .., "en": ..}, "followup": {"detractor": {..}, '
        '"passive": {..}, "promoter": {..}}, "options": [..] (custom)}; defaults exist',
    )
    actions.add_parser("list", parents=[common], help="list surveys")
    link = actions.add_parser(
        "link",
        parents=[common],
        help="print the link to a survey's page (answered without any chat), and its QR code",
        description="Print the link to a survey's page under /s/. Without --customer anyone "
        "with the link may answer (a receipt, a QR code at the counter); with it, the answers "
        "are that customer's, in their language. Links start with [links] base_url and open "
        "the page for [links] ttl_days.",
    )
    link.add_argument("name", help="the survey's name (otklik survey list)")
    link.add_argument("--customer", type=int, metavar="ID", help="a link for this customer")
    link.add_argument("--qr", type=Path, metavar="FILE.png", help="also write it as a QR code")

    campaign = commands.add_parser(
        "campaign", parents=[common], help="schedule surveys and follow their delivery"
    )
    actions = campaign.add_subparsers(dest="action", metavar="ACTION")
    create = actions.add_parser(
        "create",
        parents=[common],
        help="create a campaign (draft unless --at, --cron or --trigger is given)",
    )
    create.add_argument("name")
    create.add_argument("--survey", required=True, help="survey name")
    create.add_argument("--at", type=moment, help="run once at this time")
    create.add_argument(
        "--cron", default="", help="recurring, crontab syntax, in the [hours] timezone"
    )
    create.add_argument("--trigger", default="", choices=["", "first_contact", "ticket_resolved"])
    create.add_argument("--delay-hours", type=int, default=0, help="delay after the trigger")
    create.add_argument(
        "--audience",
        default="{}",
        help="JSON filters: channel, language, tag, first_contact_after, first_contact_before, "
        "has_ticket",
    )
    create.add_argument("--throttle-days", type=int, default=30)
    create.add_argument("--quiet", default="21:00-09:00", help="quiet hours, customer's time")
    create.add_argument("--reminder-hours", type=int, default=0)
    create.add_argument("--expire-hours", type=int, default=72)
    for action in ACTIONS:
        parser = actions.add_parser(action, parents=[common], help=f"{action} campaigns")
        if action != "list":
            parser.add_argument("id", type=int)


async def run(settings: Settings, args: argparse.Namespace) -> int:
    async with command_database(settings.database) as pool, pool() as session, session.begin():
        if args.command == "survey":
            await _survey(session, settings, args)
        else:
            await _campaign(session, settings, args)
    return 0


async def _survey(session: Any, settings: Settings, args: argparse.Namespace) -> None:
    if args.action == "link":
        await _link(session, settings, args)
        return
    if args.action == "create":
        survey = await service.create_survey(
            session, args.name, args.kind, args.anonymous, args.texts
        )
        print(f"survey {survey.name!r} created (id {survey.id})")
        return
    rows = await service.surveys(session)
    for survey in rows:
        anonymous = "anonymous" if survey.anonymous else ""
        print(f"{survey.id:>4}  {survey.name:24} {survey.kind:6} {anonymous}")
    print(f"{len(rows)} surveys")


async def _link(session: Any, settings: Settings, args: argparse.Namespace) -> None:
    survey = await service.survey_named(session, args.name)
    if survey is None:
        raise CommandError(f"no survey named {args.name!r} (otklik survey list shows them)")
    kind = "s"  # anyone's link
    ids: tuple[int, ...] = (survey.id,)
    if args.customer is not None:
        if await session.get(Customer, args.customer) is None:
            raise CommandError(f"no customer {args.customer} (otklik customers show ID shows one)")
        kind, ids = "c", (survey.id, args.customer)
    config = settings.links
    signer = await signer_in(session, config)
    token = signer.sign(kind, ids, datetime.now(UTC) + timedelta(days=config.ttl_days))
    url = f"{config.public_url(settings.http)}/s/{token}"
    print(url)
    if not config.base_url:
        print(
            "otklik: [links] base_url is not set: this link only opens on this machine",
            file=sys.stderr,
        )
    if args.qr is not None:
        try:
            segno.make(url, error="m").save(str(args.qr), scale=8, border=2)
        except OSError as exc:
            raise CommandError(f"cannot write {args.qr}: {exc.strerror}") from None
        print(f"QR code written to {args.qr}", file=sys.stderr)


SKIP_HELP = (
    "opted out of surveys, unreachable (blocked the bot), no channel to reach them on, or "
    "throttled (surveyed within the campaign's throttle days)"
)


async def _campaign(session: Any, settings: Settings, args: argparse.Namespace) -> None:
    if args.action == "create":
        campaign = await service.create_campaign(
            session,
            name=args.name,
            survey_name=args.survey,
            run_at=args.at,
            cron=args.cron,
            trigger=args.trigger,
            trigger_delay_hours=args.delay_hours,
            audience=args.audience,
            throttle_days=args.throttle_days,
            quiet=args.quiet,
            reminder_hours=args.reminder_hours,
            expire_hours=args.expire_hours,
        )
        print(f"campaign {campaign.id} {campaign.name!r} is {campaign.status}")
        return
    if args.action == "list":
        rows = await service.campaigns(session)
        for campaign in rows:
            print(f"{campaign.id:>4}  {campaign.name:24} {campaign.status:10} {campaign.schedule}")
        print(f"{len(rows)} campaigns")
        return
    campaign = await session.get(Campaign, args.id)
    if campaign is None:
        raise service.CampaignError(f"id: no campaign {args.id}")
    if args.action in ("pause", "resume", "cancel"):
        await service.change_state(session, campaign, args.action)
        print(f"campaign {campaign.id} is {campaign.status}")
        return
    if args.action == "start":
        service.start_now(campaign, datetime.now(UTC))
        print(f"campaign {campaign.id} starts now (the running bot sends it)")
        return
    state = await service.status(session, campaign)
    print(f"campaign {campaign.id} {campaign.name!r}: {campaign.status}")
    print(progress(state.counts))
    labels = ("queued", "sending", "sent", "answered", "blocked", "failed", "expired")
    print("  ".join(f"{label} {state.counts.get(label, 0)}" for label in labels))
    if state.counts.get("held") or state.counts.get("unseen"):
        # Web chat visitors with no page open: sent once their page shows it.
        print(
            f"waiting for the visitor to open the chat {state.counts.get('held', 0)}  "
            f"never seen {state.counts.get('unseen', 0)}"
        )
    skipped = describe_skips(skipped_of(campaign))
    if skipped:
        print(skipped + " (not asked: " + SKIP_HELP + ")")
    rate = state.response_rate
    print(f"response rate {rate:.1%}" if rate is not None else "response rate —")


GROUP = CommandGroup(("survey", "campaign"), add_parsers, run)
