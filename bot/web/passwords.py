"""Staff passwords: argon2 hashes (argon2-cffi's defaults); what a login and a password
must be."""

from __future__ import annotations

import asyncio
import re
import threading
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
LOGIN = re.compile(r"[a-z0-9_.-]{2,64}")  # what an account's login may be
MIN_PASSWORD = 10


@cache
def _dummy() -> str:
    """Checked against when the login is unknown, so a wrong login costs what a wrong password
    does. Made on first use: a hash takes ~0.15 s, which every CLI start would pay."""
    return _hasher.hash("not a password anyone has")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_matches(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _dummy(), password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


# Checks running at once, process-wide: each is ~125 ms of a core, so a burst of sign-ins
# waits its turn in threads instead of taking every core from the customers' chats.
_CHECKS = threading.BoundedSemaphore(2)


def _bounded_match(password_hash: str | None, password: str) -> bool:
    with _CHECKS:
        return password_matches(password_hash, password)


async def password_matches_off_loop(password_hash: str | None, password: str) -> bool:
    """The check in a worker thread, at most two at a time: on the event loop five wrong
    sign-ins at once held another customer's chat answer for ~450 ms."""
    return await asyncio.to_thread(_bounded_match, password_hash, password)
