"""The `[email]` section: where campaign emails (and, later, staff replies) leave from."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from bot.config_rules import above_zero

_ADDRESS = re.compile(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+")


@dataclass(frozen=True)
class MailServer:
    """An SMTP or IMAP server: where, whether with TLS from the start, and the login."""

    host: str
    port: int
    tls: bool  # implicit TLS (smtps://, imaps://); else STARTTLS when the server offers it
    username: str
    password: str


@dataclass(frozen=True)
class EmailConfig:
    # smtp://HOST:587 (STARTTLS when offered) or smtps://HOST:465 (TLS); empty keeps email
    # off. Credentials may sit in the URL (smtp://USER:PASSWORD@HOST) or in the keys below;
    # keep them in the environment: OTKLIK__EMAIL__SMTP_URL, OTKLIK__EMAIL__SMTP_PASSWORD.
    smtp_url: str = ""
    smtp_username: str = ""
    smtp_password: str = ""
    # Who emails come from ("Otklik <surveys@shop.example>"), and where customers write to
    # support (replies to campaign emails go there too).
    from_address: str = ""
    support_address: str = ""
    # Emails a minute, campaigns and replies together: the provider's limit.
    rate_per_minute: float = 600.0
    # Connections kept open to the SMTP server, each sending one message at a time.
    connections: int = 4
    timeout_seconds: float = 30.0
    # Mail to support_address as tickets, posted raw (message/rfc822) by the mail provider's
    # inbound webhook to this path, signed with this secret as the generic HTTP channel's
    # requests are (OTKLIK__EMAIL__INBOUND_SECRET, 16+ characters); empty: no route.
    inbound_path: str = "/email/inbound"
    inbound_secret: str = ""
    # The largest message that route takes, attachments included (413 above it).
    inbound_max_kb: int = 30_720
    # Attachments up to this size are kept for staff to open (in the database, each file once
    # however often it arrives); larger ones are named with their size and not kept.
    attachment_max_kb: int = 10_240
    # Mail to support_address read by IMAP: imaps://HOST:993 or imap://HOST:143 (STARTTLS
    # when offered); empty: not read. IDLE where the server has it, else polled every
    # imap_poll_seconds. Read by the process with [scheduler] enabled = true.
    imap_url: str = ""
    imap_username: str = ""
    imap_password: str = ""
    imap_folder: str = "INBOX"
    imap_poll_seconds: float = 60.0
    # DKIM signing, when the provider does not sign for you: the selector, the domain and the
    # PEM private key's file (its public half published at SELECTOR._domainkey.DOMAIN).
    dkim_selector: str = ""
    dkim_domain: str = ""
    dkim_key_file: str = ""

    @property
    def enabled(self) -> bool:
        return bool(self.smtp_url)

    def server(self) -> MailServer:
        return _server(self.smtp_url, "smtps", 465, 587, self.smtp_username, self.smtp_password)

    def imap_server(self) -> MailServer:
        return _server(self.imap_url, "imaps", 993, 143, self.imap_username, self.imap_password)

    def problems(self) -> Iterator[str]:
        if not self.enabled:
            return
        where = "[email]"
        parts = urlsplit(self.smtp_url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            yield f"{where} smtp_url: smtp://HOST[:PORT] or smtps://HOST[:PORT]"
        for key in ("from_address", "support_address"):
            if not _ADDRESS.search(getattr(self, key)):
                yield f"{where} {key}: an email address is required when email is on"
        yield from above_zero(
            self,
            "email",
            (
                "rate_per_minute",
                "connections",
                "timeout_seconds",
                "inbound_max_kb",
                "attachment_max_kb",
            ),
        )
        if self.imap_url and urlsplit(self.imap_url).scheme not in ("imap", "imaps"):
            yield f"{where} imap_url: imap://HOST[:PORT] or imaps://HOST[:PORT]"
        if self.imap_poll_seconds <= 0:
            yield f"{where} imap_poll_seconds: must be above 0"
        if self.inbound_secret and len(self.inbound_secret) < 16:
            yield f"{where} inbound_secret: at least 16 characters"
        if not self.inbound_path.startswith("/"):
            yield f"{where} inbound_path: must start with '/'"
        dkim = (self.dkim_selector, self.dkim_domain, self.dkim_key_file)
        if any(dkim) and not all(dkim):
            yield f"{where}: dkim_selector, dkim_domain and dkim_key_file go together"


def _server(
    url: str, tls_scheme: str, tls_port: int, plain_port: int, username: str, password: str
) -> MailServer:
    """A server from its URL; the keys' login, else the URL's (percent-decoded)."""
    parts = urlsplit(url)
    tls = parts.scheme == tls_scheme
    return MailServer(
        host=parts.hostname or "",
        port=parts.port or (tls_port if tls else plain_port),
        tls=tls,
        username=username or unquote(parts.username or ""),
        password=password or unquote(parts.password or ""),
    )
