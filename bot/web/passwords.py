"""Staff passwords: argon2 hashes (argon2-cffi's defaults); what a login and a password
must be."""

from __future__ import annotations

import re
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
