"""Signed, expiring tokens in survey links: what a link may do, readable by no one but us.

A token is `kind.id[.id].expires.signature`: the kind says what it opens (`s` a survey for
anyone, `c` a survey for one customer, `d` one campaign delivery, `f` an answering session on
a survey page, `r` a recorded answer's comment step, `u` a customer's unsubscribe, `t` a
ticket's email reply address), `expires` is a Unix time in base 36, and the signature is
HMAC-SHA256 under the instances' shared key, cut to 128 bits. Anything that does not verify,
or has expired, reads as None: a forged or stale link opens nothing and records nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

KINDS = {"s": 1, "c": 2, "d": 1, "f": 2, "r": 1, "u": 1, "t": 1}  # kind -> how many ids it carries
MAX_CHARS = 160


@dataclass(frozen=True)
class LinkToken:
    kind: str
    ids: tuple[int, ...]
    expires: int  # Unix seconds

    def expired(self, now: datetime) -> bool:
        return now.timestamp() >= self.expires


class LinkSigner:
    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the link signing key needs at least 16 bytes")
        self._key = key

    def _signature(self, body: str) -> str:
        digest = hmac.new(self._key, body.encode(), hashlib.sha256).digest()[:16]
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def sign(self, kind: str, ids: tuple[int, ...], expires: datetime) -> str:
        if KINDS.get(kind) != len(ids) or any(i < 0 for i in ids):
            raise ValueError(f"a {kind!r} token carries {KINDS.get(kind)} ids")
        body = ".".join([kind, *map(str, ids), _base36(int(expires.timestamp()))])
        return f"{body}.{self._signature(body)}"

    def read(self, token: str, now: datetime, kinds: str) -> LinkToken | None:
        """The token if it is one of `kinds`, signed by us and not expired; else None."""
        if not token or len(token) > MAX_CHARS or not token.isascii():
            return None
        body, _, signature = token.rpartition(".")
        parts = body.split(".")
        kind = parts[0]
        if kind not in kinds or KINDS.get(kind) != len(parts) - 2:
            return None
        if not hmac.compare_digest(self._signature(body), signature):
            return None
        try:
            ids = tuple(int(part) for part in parts[1:-1])
            expires = int(parts[-1], 36)
        except ValueError:
            return None
        found = LinkToken(kind, ids, expires)
        return None if found.expired(now) else found


def new_nonce() -> int:
    """An answering session's id: 62 random bits, so it fits a signed 64-bit column."""
    return secrets.randbits(62)


def _base36(value: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        value, rest = divmod(value, 36)
        out = digits[rest] + out
        if value == 0:
            return out
