"""`otklik customers show|merge`: one person across channels, from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select

from bot.cli.group import CommandError, CommandGroup
from bot.config import Settings
from bot.core import customer_import
from bot.core.delivery.outbox import ReplyBuffer, hand_over
from bot.core.hours import parse_schedule
from bot.core.live_hours import config_in_effect
from bot.core.tickets.linking import Linking
from bot.core.tickets.service import TicketService
from bot.database import command_database
from storage.models import Customer, CustomerMerge
from storage.repositories.api import AuditLog
from storage.repositories.customers import CustomerRepository
from storage.repositories.privacy import erase_customer, export_customer


def add_parsers(commands: Any, common: argparse.ArgumentParser) -> None:
    customers = commands.add_parser(
        "customers", parents=[common], help="show customers, merge two that are one person"
    )
    actions = customers.add_subparsers(dest="action", metavar="ACTION")
    show = actions.add_parser(
        "show", parents=[common], help="a customer's channels, tickets and merges"
    )
    show.add_argument("id", type=int)
    merge = actions.add_parser(
        "merge",
        parents=[common],
        help="SOURCE becomes TARGET: channels, history, tickets and surveys move; recorded",
        description="Everything of customer SOURCE moves to TARGET (channel identities, the "
        "conversation, tickets, survey answers and deliveries); two open tickets become one. "
        "SOURCE stays as an empty row marked merged, and the merge is recorded with what "
        "moved, so it can be read (customers show) and undone by hand.",
    )
    merge.add_argument("source", type=int)
    merge.add_argument("target", type=int)
    merge.add_argument("--by", default="cli", help="name recorded as who merged")
    export = actions.add_parser(
        "export",
        parents=[common],
        help="everything held about a customer, as JSON (a request for their data)",
    )
    export.add_argument("id", type=int)
    export.add_argument("--out", type=Path, help="write to this file (default: stdout)")
    erase = actions.add_parser(
        "erase",
        parents=[common],
        help="erase a customer on request: messages and identities deleted, scores kept anonymous",
        description="Deletes the customer's channel identities, conversation, ticket messages, "
        "survey comments, queued messages and link codes; blanks their name and the tickets' "
        "subjects. Survey scores stay as anonymous answers, tickets as counts in reports. "
        "Messages already in the Telegram staff group stay there: delete them in Telegram.",
    )
    erase.add_argument("id", type=int)
    erase.add_argument("--yes", action="store_true", help="really erase (it cannot be undone)")
    load = actions.add_parser(
        "import",
        parents=[common],
        help="add or update customers from a CSV file (name, email, language, tags, timezone, "
        "consent)",
        description="A header line names the columns, in any order; email is required. A known "
        "address updates its customer, never duplicates it. Without consent (yes/no) nobody "
        "is emailed a survey. Every bad row is reported with its line; nothing is imported "
        "while there are any, unless --skip-bad.",
    )
    load.add_argument("file", type=Path, help="the CSV file (UTF-8)")
    load.add_argument("--skip-bad", action="store_true", help="import the good rows anyway")


async def run(settings: Settings, args: argparse.Namespace) -> int:
    if args.action == "import":
        return await _import(settings, args)
    async with command_database(settings.database) as pool, pool() as session, session.begin():
        if args.action == "show":
            await _show(session, args.id)
            return 0
        if args.action == "export":
            data = await export_customer(session, args.id)
            if data is None:
                raise CommandError(f"no customer {args.id}")
            text = json.dumps(data, ensure_ascii=False, indent=2, default=str)
            if args.out is None:
                print(text)
            else:
                args.out.write_text(text + "\n", encoding="utf-8")
                print(f"customer {args.id} exported to {args.out}", file=sys.stderr)
            AuditLog(session).add("cli", "customer.export", f"customer:{args.id}")
            return 0
        if args.action == "erase":
            if not args.yes:
                raise CommandError("erasing cannot be undone: add --yes")
            erased = await erase_customer(session, args.id)
            if erased is None:
                raise CommandError(f"no customer {args.id}")
            AuditLog(session).add("cli", "customer.erase", f"customer:{args.id}", erased)
            counts = ", ".join(f"{k} {v}" for k, v in erased.items() if v)
            print(f"customer {args.id} erased ({counts or 'nothing else held'})")
            return 0
        source = await _customer(session, args.source)
        target = await _customer(session, args.target)
        if source.id == target.id:
            raise CommandError("source and target are the same customer")
        if source.merged_into is not None:
            raise CommandError(f"customer {source.id} was already merged into {source.merged_into}")
        tickets = TicketService(
            parse_schedule(await config_in_effect(session, settings.hours)), settings.tickets
        )
        effects = await Linking(tickets, lambda: datetime.now(UTC)).merge(
            session, source, target, args.by
        )
        buffer = ReplyBuffer()
        buffer.add_posts(effects.posts)
        await hand_over(session, buffer)
        print(f"customer {source.id} is now customer {target.id}")
    return 0


async def _import(settings: Settings, args: argparse.Namespace) -> int:
    try:
        text = args.file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise CommandError(f"cannot read {args.file}: {reason}") from None
    rows, bad = customer_import.parse(text, settings.bot.default_language)
    for row in bad:
        print(f"{args.file}:{row.line}: {row.reason}", file=sys.stderr)
    if bad and not (args.skip_bad and rows):
        raise CommandError(f"{len(bad)} bad rows, nothing imported (fix them, or add --skip-bad)")
    async with command_database(settings.database) as pool, pool() as session, session.begin():
        result = await customer_import.apply(session, rows)
        detail = {"created": result.created, "updated": result.updated, "bad": len(bad)}
        AuditLog(session).add("cli", "customer.import", str(args.file.name)[:64], detail)
    consented = sum(row.consent for row in rows)
    print(
        f"{result.created} customers added, {result.updated} updated, {len(bad)} rows skipped; "
        f"{consented} may be emailed surveys"
    )
    return 0


async def _customer(session: Any, customer_id: int) -> Customer:
    customer = await session.get(Customer, customer_id)
    if customer is None:
        raise CommandError(f"no customer {customer_id}")
    assert isinstance(customer, Customer)
    return customer


async def _show(session: Any, customer_id: int) -> None:
    card = await CustomerRepository(session).card(customer_id)
    if card is None:
        raise CommandError(f"no customer {customer_id}")
    customer = card.customer
    print(f"customer {customer.id} {customer.display_name!r} · {customer.language}")
    if customer.merged_into is not None:
        print(f"merged into customer {customer.merged_into}")
    for channel, shown in card.identities:
        last = " (last used)" if channel == customer.last_channel else ""
        print(f"  {channel}: {shown}{last}")
    for ticket_id, status, subject in card.tickets:
        print(f"  ticket #{ticket_id} {status}: {subject[:60]}")
    merges = await session.execute(
        select(CustomerMerge)
        .where(or_(CustomerMerge.target_id == customer.id, CustomerMerge.source_id == customer.id))
        .order_by(CustomerMerge.id)
    )
    for (merge,) in merges:
        moved = json.loads(merge.details).get("moved", {})
        counts = ", ".join(f"{k} {v}" for k, v in moved.items() if v)
        when = f"{merge.created_at:%Y-%m-%d %H:%M}"
        if merge.target_id == customer.id:
            print(f"  merged from {merge.source_id} by {merge.by} at {when}: {counts}")
        else:
            print(f"  merged into {merge.target_id} by {merge.by} at {when}")


GROUP = CommandGroup(("customers",), add_parsers, run)
