"""`otklik tickets|canned|rules`: the human inbox from the command line."""

from __future__ import annotations

import argparse
from typing import Any

from bot.cli.group import CommandError, CommandGroup
from bot.config import PRIORITIES, Settings
from bot.core.delivery.outbox import ReplyBuffer, hand_over
from bot.core.hours import parse_schedule
from bot.core.live_hours import config_in_effect
from bot.core.tickets.labels import parse_labels
from bot.core.tickets.routing import rule_problem
from bot.core.tickets.service import STAFF, TicketService
from bot.database import command_database
from storage.models import RoutingRule
from storage.repositories.tickets import CannedRepository, RuleRepository, TicketRepository

STATUSES = ("open", "new", "waiting", "resolved", "closed", "all")


def add_parsers(commands: Any, common: argparse.ArgumentParser) -> None:
    tickets = commands.add_parser(
        "tickets", parents=[common], help="list, show and resolve tickets"
    )
    actions = tickets.add_subparsers(dest="action", metavar="ACTION")
    listing = actions.add_parser("list", parents=[common], help="list tickets, newest first")
    listing.add_argument("--status", choices=STATUSES, default="open", help="(default: open)")
    listing.add_argument("--limit", type=int, default=50)
    show = actions.add_parser("show", parents=[common], help="a ticket with its conversation")
    show.add_argument("id", type=int)
    resolve = actions.add_parser(
        "resolve", parents=[common], help="resolve a ticket; the customer is asked for CSAT"
    )
    resolve.add_argument("id", type=int)
    resolve.add_argument("--by", default="cli", help="name recorded as the resolver")
    reply = actions.add_parser(
        "reply",
        parents=[common],
        help="answer the customer; it reaches them on their channel through the running bot",
    )
    reply.add_argument("id", type=int)
    reply.add_argument("text")
    reply.add_argument("--by", default="cli", help="name the customer sees (default: cli)")
    via = actions.add_parser(
        "via",
        parents=[common],
        help="choose the channel staff replies go to",
        description="By default replies reach the customer on the channel they wrote from "
        "last; 'via ID vk' sends them to VK from now on, 'via ID last' goes back.",
    )
    via.add_argument("id", type=int)
    via.add_argument("channel", help="a channel the customer has used, or 'last'")
    via.add_argument("--by", default="cli", help="name recorded in the ticket")
    merge = actions.add_parser(
        "merge", parents=[common], help="merge a duplicate ticket into another of the same customer"
    )
    merge.add_argument("duplicate", type=int)
    merge.add_argument("target", type=int)
    merge.add_argument("--by", default="cli", help="name recorded in both tickets")

    canned = commands.add_parser(
        "canned", parents=[common], help="manage canned replies (/canned NAME in a topic)"
    )
    actions = canned.add_subparsers(dest="action", metavar="ACTION")
    add = actions.add_parser("add", parents=[common], help="add or replace a canned reply")
    add.add_argument("name")
    add.add_argument("text")
    actions.add_parser("list", parents=[common], help="list canned replies")
    remove = actions.add_parser("remove", parents=[common], help="remove a canned reply")
    remove.add_argument("name")

    rules = commands.add_parser("rules", parents=[common], help="manage ticket routing rules")
    actions = rules.add_subparsers(dest="action", metavar="ACTION")
    add = actions.add_parser(
        "add",
        parents=[common],
        help="add a rule; all conditions it names must match",
        description="Rules are evaluated by --position, then by age; the first match sets "
        "category, priority and assignee of a new ticket.",
    )
    add.add_argument("name")
    add.add_argument("--keywords", default="", help="comma-separated words, matched by stem")
    add.add_argument("--pattern", default="", help="regular expression (case-insensitive)")
    add.add_argument("--channel", default="", help="telegram, webchat, ...")
    add.add_argument("--language", default="", choices=["", "ru", "en"])
    add.add_argument("--category", default="")
    add.add_argument("--priority", default="", choices=["", *PRIORITIES])
    add.add_argument("--assignee", type=int, default=0, help="Telegram user id")
    add.add_argument(
        "--labels", default="", help="labels put on the new ticket, comma-separated (vip,refund)"
    )
    add.add_argument("--position", type=int, default=100)
    actions.add_parser("list", parents=[common], help="list rules in evaluation order")
    remove = actions.add_parser("remove", parents=[common], help="remove a rule by name")
    remove.add_argument("name")


def _check_rule(rule: RoutingRule) -> None:
    problem = rule_problem(rule)
    if problem is not None:
        raise CommandError(f"rule {rule.name!r}: {problem}")


async def run(settings: Settings, args: argparse.Namespace) -> int:
    async with command_database(settings.database) as pool, pool() as session, session.begin():
        if args.command == "tickets":
            buffer = ReplyBuffer()
            await _tickets(settings, session, args, buffer)
            # Handed over to the running bot, which claims and sends them within a second.
            await hand_over(session, buffer)
        elif args.command == "canned":
            await _canned(session, args)
        else:
            await _rules(session, args)
    return 0


async def _tickets(
    settings: Settings, session: Any, args: argparse.Namespace, buffer: ReplyBuffer
) -> None:
    tickets = TicketRepository(session)
    if args.action == "list":
        status = None if args.status == "all" else args.status
        rows = await tickets.listing(status, args.limit)
        print(
            f"{'id':>5}  {'status':9} {'priority':8} {'category':12} {'created (UTC)':16}  subject"
        )
        for row in rows:
            print(
                f"{row.id:>5}  {row.status:9} {row.priority:8} {row.category[:12]:12} "
                f"{row.created_at:%Y-%m-%d %H:%M}  {row.subject[:60]}"
            )
        print(f"{len(rows)} tickets")
        return
    service = TicketService(
        parse_schedule(await config_in_effect(session, settings.hours)), settings.tickets
    )
    if args.action == "merge":
        duplicate, target = await tickets.get(args.duplicate), await tickets.get(args.target)
        if duplicate is None or target is None:
            raise CommandError(f"no ticket #{args.duplicate if duplicate is None else args.target}")
        buffer.add_posts((await service.merge(session, duplicate, target, args.by)).posts)
        print(f"ticket #{duplicate.id} merged into #{target.id}")
        return
    ticket = await tickets.get(args.id)
    if ticket is None:
        raise CommandError(f"no ticket #{args.id}")
    if args.action == "show":
        print(
            f"#{ticket.id} {ticket.status} · {ticket.priority} · {ticket.category} · "
            f"channel {ticket.channel} · customer {ticket.customer_id}"
        )
        print(
            f"created {ticket.created_at:%Y-%m-%d %H:%M} UTC, first reply due "
            f"{ticket.due_at:%Y-%m-%d %H:%M} UTC"
            if ticket.due_at
            else "no due time"
        )
        if ticket.csat_score is not None:
            print(f"CSAT {ticket.csat_score}/5 {ticket.csat_comment or ''}")
        if ticket.reply_channel:
            print(f"staff replies go to {ticket.reply_channel}")
        for message in await tickets.messages(ticket.id):
            who = f"{message.kind}:{message.author}" if message.author else message.kind
            via = f" ({message.channel})" if message.channel else ""
            attachment = f" [{message.attachment_kind}]" if message.attachment_kind else ""
            print(f"  {message.created_at:%m-%d %H:%M} {who}{via}: {message.text}{attachment}")
        return
    if args.action == "via":
        channel = "" if args.channel.lower() == "last" else args.channel.lower()
        effects = await service.choose_reply_channel(session, ticket, channel, args.by)
        buffer.add_posts(effects.posts)
        print(f"ticket #{ticket.id}: replies go to {channel or 'the channel used last'}")
        return
    if args.action == "reply":
        if not args.text.strip():
            raise CommandError("the reply is empty")
        effects = await service.staff_reply(session, ticket, args.by, args.text, mirror=True)
        buffer.add_posts(effects.posts)
        sent = [channel for channel, _, _ in effects.posts if channel != STAFF]
        if not sent:
            raise CommandError("the customer has no reachable channel")
        print(f"ticket #{ticket.id}: reply handed to the bot for {sent[0]}")
        return
    effects = await service.resolve(session, ticket, args.by)
    buffer.add_posts(effects.posts)
    print(f"ticket #{ticket.id} is {ticket.status}")


async def _canned(session: Any, args: argparse.Namespace) -> None:
    canned = CannedRepository(session)
    if args.action == "add":
        if not args.name.isidentifier() or len(args.name) > 64:
            raise CommandError("a canned reply name is one word of letters, digits and _")
        await canned.add(args.name, args.text)
        print(f"canned reply {args.name!r} saved")
    elif args.action == "list":
        rows = await canned.all()
        for reply in rows:
            print(f"{reply.name:20} {reply.text[:70]}")
        print(f"{len(rows)} canned replies")
    elif not await canned.remove(args.name):
        raise CommandError(f"no canned reply {args.name!r}")
    else:
        print(f"canned reply {args.name!r} removed")


async def _rules(session: Any, args: argparse.Namespace) -> None:
    rules = RuleRepository(session)
    if args.action == "add":
        if await rules.by_name(args.name) is not None:
            raise CommandError(f"a rule named {args.name!r} exists; remove it first")
        rule = RoutingRule(
            name=args.name,
            position=args.position,
            keywords="\n".join(k.strip() for k in args.keywords.split(",") if k.strip()),
            pattern=args.pattern,
            channel=args.channel,
            language=args.language,
            set_category=args.category,
            set_priority=args.priority,
            set_assignee_id=args.assignee or None,
            set_labels="\n".join(parse_labels(args.labels)),
        )
        _check_rule(rule)
        await rules.add(rule)
        print(f"rule {args.name!r} added at position {args.position}")
    elif args.action == "list":
        rows = await rules.ordered()
        for rule in rows:
            when = ", ".join(
                part
                for part in (
                    f"words: {rule.keywords.replace(chr(10), '|')}" if rule.keywords else "",
                    f"pattern: {rule.pattern}" if rule.pattern else "",
                    f"channel: {rule.channel}" if rule.channel else "",
                    f"language: {rule.language}" if rule.language else "",
                )
                if part
            )
            then = ", ".join(
                part
                for part in (
                    f"category={rule.set_category}" if rule.set_category else "",
                    f"priority={rule.set_priority}" if rule.set_priority else "",
                    f"assignee={rule.set_assignee_id}" if rule.set_assignee_id else "",
                    f"labels={rule.set_labels.replace(chr(10), ',')}" if rule.set_labels else "",
                )
                if part
            )
            print(f"{rule.position:>4} {rule.name:16} if {when} then {then}")
        print(f"{len(rows)} rules")
    elif not await rules.remove(args.name):
        raise CommandError(f"no rule {args.name!r}")
    else:
        print(f"rule {args.name!r} removed")


GROUP = CommandGroup(("tickets", "canned", "rules"), add_parsers, run)
