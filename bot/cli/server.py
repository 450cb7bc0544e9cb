"""`otklik run | migrate | chat`: the bot itself, its schema, and a chat in this terminal."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from bot.cli.group import CommandGroup
from bot.config import Settings
from bot.database import engine_for

EPILOG = (
    "Config: --config PATH, else $OTKLIK_CONFIG, else built-in defaults (SQLite in the working "
    "directory, HTTP on 127.0.0.1:8080, Telegram off). Any key can be overridden with "
    "OTKLIK__SECTION__KEY, e.g. OTKLIK__TELEGRAM__TOKEN."
)


def add_parsers(commands: Any, common: argparse.ArgumentParser) -> None:
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
    commands.add_parser(
        "chat",
        parents=[common],
        help="talk to the bot in this terminal (no Telegram, no HTTP)",
    )


def serve(settings: Settings) -> int:
    """`otklik run`, outside asyncio.run of the other commands: it owns its loop and signals."""
    from bot.app import serve as serve_forever
    from bot.startup_claims import ClaimError

    try:
        asyncio.run(serve_forever(settings))
    except KeyboardInterrupt:
        print("otklik: stopped", file=sys.stderr)
    except ClaimError as exc:
        print(f"otklik: {exc}", file=sys.stderr)
        return 3
    return 0


async def run(settings: Settings, args: argparse.Namespace) -> int:
    if args.command == "migrate":
        from storage import migrate

        engine = engine_for(settings.database)
        try:
            await migrate.upgrade(engine, args.to)
            print(f"database at revision {await migrate.current_revision(engine)}")
        finally:
            await engine.dispose()
        return 0
    from bot.terminal_chat import terminal_chat

    return await terminal_chat(settings)


GROUP = CommandGroup(("migrate", "chat"), add_parsers, run, needs_action=False)
