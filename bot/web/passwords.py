"""Staff passwords: argon2 hashes (argon2-cffi's defaults); what a login and a password
must be: at least 10 characters and not common or trivial, by zxcvbn's estimate of the guesses
it takes (`aaaaaaaaaa`, `1234567890`, `Password123!` and the login itself are refused)."""

from __future__ import annotations

import asyncio
import re
import threading
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn import zxcvbn

from bot.core.texts import t

_hasher = PasswordHasher()
LOGIN = re.compile(r"[a-z0-9_.-]{2,64}")  # what an account's login may be
MIN_PASSWORD = 10
MAX_PASSWORD = 1024
# zxcvbn's scale: 3 is "safely unguessable" (about 10^8 guesses and more). It knows English
# words and common passwords; these Russian ones it would not.
MIN_STRENGTH = 3
_JUDGED = 72  # zxcvbn's own bound on what it reads (its cost grows with the length)
_RUSSIAN_COMMON = ("пароль", "йцукен", "привет", "админ", "любовь", "солнышко", "qwerty")


def password_problem(
    password: str, *, login: str = "", name: str = "", language: str = "en"
) -> str | None:
    """Why a new password will not do, in a sentence for the person choosing it, in their
    language; None if fine. zxcvbn's own hint is English: given in English only."""
    if len(password) < MIN_PASSWORD:
        return t("password_too_short", language, n=MIN_PASSWORD)
    if len(password) > MAX_PASSWORD:
        return t("password_too_long", language, n=MAX_PASSWORD)
    known = [w for w in (login, name, *name.split(), *_RUSSIAN_COMMON) if len(w) >= 3]
    verdict = zxcvbn(password[:_JUDGED], user_inputs=known)
    if verdict["score"] >= MIN_STRENGTH:
        return None
    warning = str(verdict["feedback"].get("warning") or "").rstrip(".")
    why = f" ({warning})" if warning and language == "en" else ""
    return t("password_guessable", language, why=why)


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
