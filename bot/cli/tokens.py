"""`otklik token create|list|revoke`: bearer tokens for the REST API."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bot.cli.group import CommandError, CommandGroup
from bot.config import Settings
from bot.database import command_database
from storage.models import utcnow
from storage.repositories.api import TOKEN_NAME, AuditLog, TokenRepository


def add_parsers(commands: Any, common: argparse.ArgumentParser) -> None:
    token = commands.add_parser(
        "token",
        parents=[common],
        help="API tokens: create, list, revoke",
        description="Bearer tokens for the REST API under /api/v1/ (its OpenAPI document is "
        "/api/v1/openapi.json). Only a hash is stored: a token is shown once, when made.",
    )
    actions = token.add_subparsers(dest="action", metavar="ACTION")
    create = actions.add_parser("create", parents=[common], help="make a token and print it (once)")
    create.add_argument("name", help="who or what uses it: letters, digits, _ . -")
    create.add_argument(
        "--role",
        choices=["admin", "agent"],
        required=True,
        help="agent: tickets and customers; admin: everything, the audit log included",
    )
    actions.add_parser("list", parents=[common], help="tokens, their roles and last use")
    revoke = actions.add_parser(
        "revoke", parents=[common], help="refuse a token from now on (at once, every process)"
    )
    revoke.add_argument("name")


async def run(settings: Settings, args: argparse.Namespace) -> int:
    async with command_database(settings.database) as pool, pool() as session, session.begin():
        tokens = TokenRepository(session)
        if args.action == "list":
            rows = await tokens.all()
            print(
                f"{'name':24} {'role':6} {'prefix':11} {'created (UTC)':16}  "
                f"{'last used':16}  state"
            )
            for row in rows:
                used = f"{row.last_used_at:%Y-%m-%d %H:%M}" if row.last_used_at else "never"
                state = f"revoked {row.revoked_at:%Y-%m-%d}" if row.revoked_at else "active"
                print(
                    f"{row.name:24} {row.role:6} {row.prefix + '…':11} "
                    f"{row.created_at:%Y-%m-%d %H:%M}  {used:16}  {state}"
                )
            print(f"{len(rows)} tokens")
            return 0
        if not TOKEN_NAME.fullmatch(args.name):
            raise CommandError("a token name is 1-64 of letters, digits, '_', '.' and '-'")
        existing = await tokens.named(args.name)
        if args.action == "create":
            if existing is not None:
                raise CommandError(
                    f"a token named {args.name!r} exists (revoke it, or pick another name)"
                )
            row, token = await tokens.create(args.name, args.role)
            AuditLog(session).add("cli", "token.create", f"token:{row.name}", {"role": row.role})
            print(token)
            print(
                f"token {row.name!r} ({row.role}) made; it is shown only now. Use it as "
                "'Authorization: Bearer <token>'.",
                file=sys.stderr,
            )
            return 0
        if existing is None:
            raise CommandError(f"no token named {args.name!r} (otklik token list)")
        if existing.revoked_at is None:
            existing.revoked_at = utcnow()
            AuditLog(session).add("cli", "token.revoke", f"token:{existing.name}")
        print(f"token {existing.name!r} revoked")
    return 0


GROUP = CommandGroup(("token",), add_parsers, run)
