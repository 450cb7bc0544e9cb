"""DKIM signatures for outgoing mail (dkimpy), when `[email] dkim_*` are set: for providers
that relay without signing for the sending domain."""

from __future__ import annotations

from pathlib import Path

import dkim

SIGNED_HEADERS = [
    b"From",
    b"To",
    b"Subject",
    b"Date",
    b"Message-ID",
    b"Reply-To",
    b"List-Unsubscribe",
    b"List-Unsubscribe-Post",
]


class DkimSigner:
    def __init__(self, selector: str, domain: str, key_file: str) -> None:
        self._selector = selector.encode()
        self._domain = domain.encode()
        self._key = Path(key_file).read_bytes()

    def sign(self, message: bytes) -> bytes:
        header = dkim.sign(
            message,
            self._selector,
            self._domain,
            self._key,
            include_headers=SIGNED_HEADERS,
        )
        return bytes(header) + message
