"""Otklik's request signature, for the generic HTTP channel (both directions) and outgoing
webhooks (Stripe's scheme, documented in `examples/http_channel_receiver.py`):
`X-Otklik-Timestamp: <unix seconds>` and
`X-Otklik-Signature: v1=<hex HMAC-SHA256 of "<timestamp>.<body>">`. The timestamp inside the
signed text makes a captured request useless after `TOLERANCE` seconds."""

from __future__ import annotations

import hashlib
import hmac

TIMESTAMP_HEADER = "X-Otklik-Timestamp"
SIGNATURE_HEADER = "X-Otklik-Signature"
TOLERANCE = 300.0  # seconds either way


def signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def signed_headers(secret: str, body: bytes, now: float) -> dict[str, str]:
    timestamp = str(int(now))
    return {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: signature(secret, timestamp, body)}


def check(secret: str, timestamp: str, given: str, body: bytes, now: float) -> str | None:
    """None if the request is authentic and fresh, else what is wrong (safe to show)."""
    if not timestamp or not given:
        return f"{TIMESTAMP_HEADER} and {SIGNATURE_HEADER} are required"
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        return f"{TIMESTAMP_HEADER} must be unix seconds"
    if abs(now - int(timestamp)) > TOLERANCE:
        return f"{TIMESTAMP_HEADER} is more than {TOLERANCE:.0f} s away: a replay or a wrong clock"
    expected = signature(secret, timestamp, body).encode()
    if not hmac.compare_digest(expected, given.encode("utf-8", "surrogateescape")):
        return "wrong signature"
    return None
