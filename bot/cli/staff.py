"""`otklik staff add|list|disable`: accounts for the web inbox."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from bot.cli.group import CommandError, CommandGroup
from bot.config import Settings
from bot.database import command_database
from bot.web.passwords import LOGIN, hash_password, password_problem
from storage.models import utcnow
from storage.repositories.api import AuditLog, TokenRepository
from storage.repositories.staff_accounts import AccountRepository, SessionRepository


def add_parsers(commands: Any, common: argparse.ArgumentParser) -> None:
    staff = commands.add_parser(
        "staff",
        parents=[common],
        help="web inbox accounts: add, list, disable, unlock, reset-two-factor",
        description="Accounts that sign in to the web inbox at /inbox. Passwords are kept as "
        "argon2 hashes.",
    )
    actions = staff.add_subparsers(dest="action", metavar="ACTION")
    add = actions.add_parser("add", parents=[common], help="add an account (asks the password)")
    add.add_argument("login", help="2-64 of a-z, 0-9, _ . -")
    add.add_argument("--name", required=True, help="shown to customers with replies")
    add.add_argument("--role", choices=["agent", "admin"], default="agent", help="(agent)")
    add.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    actions.add_parser("list", parents=[common], help="accounts and their roles")
    disable = actions.add_parser(
        "disable", parents=[common], help="refuse the account and end its sessions at once"
    )
    disable.add_argument("login")
    unlock = actions.add_parser(
        "unlock", parents=[common], help="end a lock after too many wrong passwords"
    )
    unlock.add_argument("login")
    reset = actions.add_parser(
        "reset-two-factor",
        parents=[common],
        help="forget the account's authenticator (a lost phone); it sets one up again",
    )
    reset.add_argument("login")


def _password(from_stdin: bool, login: str, name: str) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            raise CommandError("the passwords differ")
    if (problem := password_problem(password, login=login, name=name)) is not None:
        raise CommandError(f"the password will not do: {problem}")
    return password


async def run(settings: Settings, args: argparse.Namespace) -> int:
    if args.action == "add":
        login = args.login.lower()
        if not LOGIN.fullmatch(login):
            raise CommandError("a login is 2-64 of a-z, 0-9, '_', '.' and '-'")
        if not args.name.strip():
            raise CommandError("--name must not be empty")
        password_hash = hash_password(_password(args.password_stdin, login, args.name))
    async with command_database(settings.database) as pool, pool() as session, session.begin():
        accounts = AccountRepository(session)
        if args.action == "list":
            rows = await accounts.all()
            print(f"{'login':20} {'role':6} {'name':24} state")
            for row in rows:
                state = f"disabled {row.disabled_at:%Y-%m-%d}" if row.disabled_at else "active"
                print(f"{row.login:20} {row.role:6} {row.name[:24]:24} {state}")
            print(f"{len(rows)} accounts")
            return 0
        if args.action == "add":
            if await accounts.by_login(login) is not None:
                raise CommandError(f"an account {login!r} exists")
            account = await accounts.add(
                login, args.name.strip(), args.role, password_hash, utcnow()
            )
            AuditLog(session).add("cli", "staff.add", f"staff:{login}", {"role": args.role})
            print(f"account {account.login!r} ({account.role}) added; sign in at /inbox")
            return 0
        found = await accounts.by_login(args.login)
        if found is None:
            raise CommandError(f"no account {args.login!r} (otklik staff list)")
        if args.action == "unlock":
            found.locked_until = None
            found.failed_sign_ins = 0
            AuditLog(session).add("cli", "staff.unlock", f"staff:{found.login}")
            print(f"account {found.login!r} unlocked")
            return 0
        if args.action == "reset-two-factor":
            had = found.totp_secret is not None
            found.totp_secret = None
            found.totp_last_step = None
            AuditLog(session).add("cli", "staff.reset_two_factor", f"staff:{found.login}")
            print(
                f"account {found.login!r}: two-step sign-in "
                + ("reset; it is set up again at the next sign-in" if had else "was not set up")
            )
            return 0
        found.disabled_at = found.disabled_at or utcnow()
        await SessionRepository(session).end_all(found.id)
        revoked = await TokenRepository(session).revoke_owned(found.id, utcnow())
        AuditLog(session).add("cli", "staff.disable", f"staff:{found.login}")
        print(
            f"account {found.login!r} disabled; its sessions ended, {revoked} of its tokens revoked"
        )
    return 0


GROUP = CommandGroup(("staff",), add_parsers, run)
