"""Replies and campaign surveys out by SMTP, and what the server's answer means.

A recipient refused for good (5xx to RCPT TO, a hard bounce at once) marks the address
unreachable, as a Telegram block does: the channel, not the customer. A 4xx, a dropped
connection or a timeout is tried again later; any other 5xx is this message's failure (the
server refused our sender or the content), not the address's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from email.utils import parseaddr

import aiosmtplib

from bot.channels.email.config import EmailConfig
from bot.channels.email.dkim_signing import DkimSigner
from bot.channels.email.render import Envelope, SurveyLinks, render
from bot.channels.email.smtp import SmtpPool
from bot.core.delivery.outbox import SendResult, SendStatus
from bot.core.delivery.rate_limit import RateLimiter
from bot.core.messages import Reply

CHANNEL = "email"
log = logging.getLogger(__name__)


class SurveyLinksSource:
    """Survey links for emails, once the signing key is known (read from SQL at start)."""

    def __init__(self) -> None:
        self.links: SurveyLinks | None = None


class EmailSender:
    def __init__(
        self,
        config: EmailConfig,
        pool: SmtpPool,
        limiter: RateLimiter,
        links: SurveyLinksSource,
        clock: Callable[[], datetime],
        *,
        paced: bool = True,
        dkim: DkimSigner | None = None,
    ) -> None:
        self._config = config
        self._smtp = pool
        self._limiter = limiter
        self._links = links
        self._clock = clock
        self._paced = paced
        self._dkim = dkim
        self._from = parseaddr(config.from_address)[1]
        self._domain = self._from.rpartition("@")[2] or "localhost"

    async def send(
        self,
        recipient: str,
        reply: Reply,
        *,
        sent_ids: list[int] | None = None,
        key: str | None = None,
    ) -> SendResult:
        if self._paced:
            await self._limiter.acquire(recipient)
        envelope = Envelope(
            sender=self._config.from_address,
            recipient=recipient,
            reply_to=self._config.support_address,
            language=_language_of(reply),
            now=self._clock(),
            domain=self._domain,
        )
        message = render(reply, envelope, self._links.links)
        data = message.as_bytes()
        if self._dkim is not None:
            data = self._dkim.sign(data)
        try:
            await self._smtp.send(self._from, recipient, data)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [error.code for error in exc.recipients]
            reason = "; ".join(f"{e.code} {e.message}"[:200] for e in exc.recipients)
            if codes and all(code >= 500 for code in codes):
                return SendResult(SendStatus.BLOCKED, f"address refused: {reason}")
            return SendResult(SendStatus.RETRY, f"address deferred: {reason}")
        except aiosmtplib.SMTPResponseException as exc:
            reason = f"{exc.code} {exc.message}"[:300]
            if exc.code >= 500:
                return SendResult(SendStatus.FAILED, f"refused by the mail server: {reason}")
            return SendResult(SendStatus.RETRY, f"mail server busy: {reason}")
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            return SendResult(SendStatus.RETRY, f"mail server unreachable: {type(exc).__name__}")
        return SendResult(SendStatus.SENT, external_id=message["Message-ID"])


def _language_of(reply: Reply) -> str:
    """The subject's and footer's language: the text's own (replies and surveys are written
    in the customer's language)."""
    letters = [c for c in reply.text if c.isalpha()]
    cyrillic = sum(1 for c in letters if "\u0400" <= c <= "\u04ff")
    return "ru" if letters and cyrillic * 2 >= len(letters) else "en"
