"""The `otklik` command line. Each command group is a module here that puts its parsers on
the one parser and runs what was asked (`bot.cli.group.CommandGroup`); this module reads the
config, sets up logging, and turns what went wrong into one line and an exit code."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Mapping, Sequence

from bot.campaigns.service import CampaignError
from bot.cli import campaigns, customers, faq, reports, server, staff, tickets, tokens
from bot.cli.group import CommandError, CommandGroup
from bot.config import ConfigError, load_settings
from bot.core.tickets.service import TicketRefused
from bot.core.understanding.faq_file import FaqFileError
from bot.log_setup import setup_logging
from storage.db import DB_ERRORS

GROUPS: tuple[CommandGroup, ...] = (
    server.GROUP,
    faq.GROUP,
    tickets.GROUP,
    customers.GROUP,
    reports.GROUP,
    campaigns.GROUP,
    tokens.GROUP,
    staff.GROUP,
)
# What a refusal is, for each kind of error a command can end with: one line, this code.
REFUSALS: tuple[type[Exception], ...] = (FaqFileError, CommandError, CampaignError, TicketRefused)
EXIT_REFUSED = 2
EXIT_UNAVAILABLE = 3

__all__ = ["CommandError", "main"]


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
        epilog=server.EPILOG,
    )
    parser.add_argument("--config", metavar="PATH", help="TOML config file")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for group in GROUPS:
        group.add_parsers(commands, common)
    return parser


def _group_of(command: str) -> CommandGroup | None:
    return next((g for g in GROUPS if command in g.commands), None)


def main(
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    set_up_logging: bool = True,
) -> int:
    """`environ` instead of the process's environment, and `set_up_logging=False` to leave the
    process's logging alone: for running a command inside another program (the tests)."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        settings = load_settings(args.config, environ=environ)
    except ConfigError as exc:
        print(f"otklik: config error: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    # A one-shot command prints its answer; the server's information lines (which model
    # matches the FAQ, ...) would only stand in front of it. Warnings still show.
    level = settings.logging.level
    if args.command != "run" and level.upper() not in ("DEBUG", "WARNING", "ERROR", "CRITICAL"):
        level = "WARNING"
    if set_up_logging:
        setup_logging(level, settings.logging.json, settings.secrets())
    if args.command == "run":
        return server.serve(settings)
    group = _group_of(args.command)
    if group is None:
        parser.error(f"unknown command {args.command!r}")
    if group.needs_action and getattr(args, "action", None) is None:
        parser.parse_args([args.command, "--help"])  # prints the group's help and exits
    try:
        return asyncio.run(group.run(settings, args))
    except BrokenPipeError:
        # `otklik tickets show 1 | head`: the reader has all it wanted. Not an error, and
        # Python must not complain again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except DB_ERRORS as exc:
        where = settings.database.url_safe
        print(f"otklik: database unavailable ({where}): {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except REFUSALS as exc:
        print(f"otklik: {exc}", file=sys.stderr)
        return EXIT_REFUSED
