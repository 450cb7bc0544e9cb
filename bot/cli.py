"""The `otklik` command line: run, migrate, faq, chat."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from bot import (
    cli_campaigns,
    cli_customers,
    cli_faq_gaps,
    cli_inbox,
    cli_reports,
    cli_staff,
    cli_tokens,
)
from bot.campaigns.service import CampaignError
from bot.config import ConfigError, Settings, load_settings
from bot.core.faq_file import FaqFileError, dump_faq, load_faq
from bot.core.intents import matcher_for
from bot.database import command_database, engine_for
from bot.log_setup import setup_logging
from storage.db import DB_ERRORS
from storage.repositories.faq import FaqRecord, FaqRepository

EPILOG = (
    "Config: --config PATH, else $OTKLIK_CONFIG, else built-in defaults (SQLite in the working "
    "directory, HTTP on 127.0.0.1:8080, Telegram off). Any key can be overridden with "
    "OTKLIK__SECTION__KEY, e.g. OTKLIK__TELEGRAM__TOKEN."
)


def _parser() -> argparse.ArgumentParser:
    # Every level takes --config. Below the top its default is SUPPRESS: a subcommand's own
    # default would otherwise overwrite a path given before the command name with None.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config", metavar="PATH", default=argparse.SUPPRESS, help="TOML config file"
    )
    parser = argparse.ArgumentParser(
        prog="otklik",
        description="Otklik: self-hosted support and feedback bot (Telegram, web chat).",
        epilog=EPILOG,
    )
    parser.add_argument("--config", metavar="PATH", help="TOML config file")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser(
        "run",
        parents=[common],
        help="start the HTTP server, Telegram and background jobs",
        description="Start everything; migrates the database first unless "
        "[database] auto_migrate = false. Stop with Ctrl+C.",
        epilog=EPILOG,
    )
    migrate = commands.add_parser(
        "migrate", parents=[common], help="bring the database schema up to date"
    )
    migrate.add_argument("--to", default="head", metavar="REV", help="target revision (head)")
    faq = commands.add_parser("faq", parents=[common], help="manage FAQ entries")
    faq_commands = faq.add_subparsers(dest="faq_command", metavar="ACTION")
    faq_import = faq_commands.add_parser(
        "import", parents=[common], help="load entries from a YAML file (see faq.example.yaml)"
    )
    faq_import.add_argument("file", type=Path)
    faq_import.add_argument(
        "--replace", action="store_true", help="delete entries that are not in the file"
    )
    faq_list = faq_commands.add_parser("list", parents=[common], help="print entries and stats")
    faq_list.add_argument("--language", choices=["ru", "en"])
    faq_export = faq_commands.add_parser("export", parents=[common], help="write entries as YAML")
    faq_export.add_argument("file", nargs="?", type=Path, help="output file (default: stdout)")
    cli_faq_gaps.add_parsers(faq_commands, common)
    cli_inbox.add_parsers(commands, common)
    cli_customers.add_parsers(commands, common)
    cli_reports.add_parser(commands, common)
    cli_campaigns.add_parsers(commands, common)
    cli_tokens.add_parsers(commands, common)
    cli_staff.add_parsers(commands, common)
    commands.add_parser(
        "chat",
        parents=[common],
        help="talk to the bot in this terminal (no Telegram, no HTTP)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(f"otklik: config error: {exc}", file=sys.stderr)
        return 2
    # A one-shot command prints its answer; the server's information lines (which model
    # matches the FAQ, ...) would only stand in front of it. Warnings still show.
    level = settings.logging.level
    if args.command != "run" and level.upper() not in ("DEBUG", "WARNING", "ERROR", "CRITICAL"):
        level = "WARNING"
    setup_logging(level, settings.logging.json, settings.secrets())
    try:
        if args.command == "run":
            return _run(settings)
        if args.command == "migrate":
            return asyncio.run(_migrate(settings, args.to))
        if args.command == "faq":
            if args.faq_command is None:
                parser.parse_args(["faq", "--help"])
            return asyncio.run(_faq(settings, args))
        if args.command in ("tickets", "canned", "rules"):
            if args.action is None:
                parser.parse_args([args.command, "--help"])
            return asyncio.run(cli_inbox.run(settings, args))
        if args.command == "customers":
            if args.action is None:
                parser.parse_args([args.command, "--help"])
            return asyncio.run(cli_customers.run(settings, args))
        if args.command in ("survey", "campaign"):
            if args.action is None:
                parser.parse_args([args.command, "--help"])
            return asyncio.run(cli_campaigns.run(settings, args))
        if args.command == "staff":
            if args.action is None:
                parser.parse_args([args.command, "--help"])
            return asyncio.run(cli_staff.run(settings, args))
        if args.command == "token":
            if args.action is None:
                parser.parse_args([args.command, "--help"])
            return asyncio.run(cli_tokens.run(settings, args))
        if args.command == "report":
            return asyncio.run(cli_reports.run(settings, args))
        if args.command == "chat":
            from bot.console import console_chat

            return asyncio.run(console_chat(settings))
    except BrokenPipeError:
        # `otklik tickets show 1 | head`: the reader has all it wanted. Not an error, and
        # Python must not complain again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except DB_ERRORS as exc:
        print(
            f"otklik: database unavailable ({settings.database.url_safe}): {exc}", file=sys.stderr
        )
        return 3
    except (FaqFileError, cli_inbox.CommandError, CampaignError) as exc:
        print(f"otklik: {exc}", file=sys.stderr)
        return 2
    parser.error(f"unknown command {args.command!r}")
    return 2  # pragma: no cover - parser.error exits


def _run(settings: Settings) -> int:
    from bot.app import serve
    from bot.startup_claims import ClaimError

    try:
        asyncio.run(serve(settings))
    except KeyboardInterrupt:
        print("otklik: stopped", file=sys.stderr)
    except ClaimError as exc:
        print(f"otklik: {exc}", file=sys.stderr)
        return 3
    return 0


async def _migrate(settings: Settings, revision: str) -> int:
    from storage import migrate

    engine = engine_for(settings.database)
    try:
        await migrate.upgrade(engine, revision)
        print(f"database at revision {await migrate.current_revision(engine)}")
    finally:
        await engine.dispose()
    return 0


async def _faq(settings: Settings, args: argparse.Namespace) -> int:
    if args.faq_command in ("gaps", "keyword", "add"):
        return await cli_faq_gaps.run(settings, args)
    async with command_database(settings.database) as pool:
        if args.faq_command == "import":
            records = load_faq(args.file)
            async with pool() as session, session.begin():
                created, updated = await FaqRepository(session).upsert(
                    records, replace=args.replace
                )
            slugs = len({r.slug for r in records})
            print(
                f"imported {slugs} entries ({len(records)} language versions): "
                f"{created} new, {updated} updated"
            )
            competing = matcher_for(settings.faq).competing(
                {(r.slug, r.language): r.question for r in records}
            )
            for (slug, language), match in competing:
                print(
                    f"note: entry {slug!r} [{language}] competes with the built-in intent "
                    f"{match.intent!r} (like {match.phrasing!r}): the intent answers it first; "
                    "reword the question or drop the entry"
                )
        elif args.faq_command == "list":
            async with pool() as session:
                entries = await FaqRepository(session).all()
                hits = await FaqRepository(session).hits()
            rows = [e for e in entries if args.language in (None, e.language)]
            print(
                f"{'id':>4}  {'lang':4}  {'slug':20}  {'hits':>5}  {'👍':>4}  {'👎':>4}  question"
            )
            for e in rows:
                print(
                    f"{e.id:>4}  {e.language:4}  {e.slug[:20]:20}  {hits.get(e.id, 0):>5}  "
                    f"{e.helpful_count:>4}  {e.unhelpful_count:>4}  {e.question}"
                )
            print(f"{len(rows)} entries")
        elif args.faq_command == "export":
            async with pool() as session:
                entries = await FaqRepository(session).all()
            records = [
                FaqRecord(
                    e.slug,
                    e.language,
                    e.question,
                    e.answer,
                    tuple(k for k in e.keywords.split("\n") if k),
                )
                for e in entries
            ]
            text = dump_faq(records)
            if args.file is None:
                sys.stdout.write(text)
            else:
                args.file.write_text(text, encoding="utf-8")
                print(f"exported {len(entries)} language versions to {args.file}", file=sys.stderr)
    return 0
