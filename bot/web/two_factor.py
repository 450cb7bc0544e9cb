"""A second factor for staff sign-in: time-based one-time codes (TOTP, RFC 6238) from an
authenticator app, enrolled by scanning a QR code. Each code is accepted once (the step it
belongs to is remembered), and one step either side of now, for a phone's clock that drifts."""

from __future__ import annotations

import time

import pyotp
import segno

ISSUER = "Otklik"
DRIFT_STEPS = 1


def new_secret() -> str:
    return pyotp.random_base32()


def enrol_uri(secret: str, login: str) -> str:
    """What the authenticator app reads from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=login, issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    """The QR code as inline SVG (no script, no image request: the pages' CSP holds)."""
    return str(segno.make(uri, error="m").svg_inline(scale=5, border=2, omitsize=True))


def accepted_step(
    secret: str, code: str, last_step: int | None, now: float | None = None
) -> int | None:
    """The time step `code` belongs to if it is right and newer than the last one used;
    None otherwise."""
    digits = "".join(c for c in code if not c.isspace())
    if len(digits) != 6 or not digits.isascii() or not digits.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    moment = time.time() if now is None else now
    step = int(moment // totp.interval)
    for candidate in range(step - DRIFT_STEPS, step + DRIFT_STEPS + 1):
        if last_step is not None and candidate <= last_step:
            continue
        if pyotp.utils.strings_equal(totp.at(candidate * totp.interval), digits):
            return candidate
    return None
