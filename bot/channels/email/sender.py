"""Replies and campaign surveys out by SMTP, and what the server's answer means.

A recipient refused for good (5xx to RCPT TO, a hard bounce at once) marks the address
unreachable, as a Telegram block does: the channel, not the customer. A 4xx, a dropped
connection or a timeout is tried again later; any other 5xx is this message's failure (the
server refused our sender or the content), not the address's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Callable
from datetime import datetime
from email.utils import parseaddr

import aiosmtplib
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channels.email import threads
from bot.channels.email.config import EmailConfig
from bot.channels.email.dkim_signing import DkimSigner
from bot.channels.email.render import Envelope, SurveyLinks, render
from bot.channels.email.smtp import SmtpPool
from bot.core.buttons import SurveyAnswer, decode
from bot.core.delivery.outbox import SendResult, SendStatus
from bot.core.delivery.rate_limit import RateLimiter
from bot.core.messages import Reply
from bot.links.tokens import LinkSigner
from storage.db import DB_ERRORS

CHANNEL = "email"
log = logging.getLogger(__name__)


class SurveyLinksSource:
    """Survey links and reply addresses for emails, once the signing key is known (read from
    SQL at start)."""

    def __init__(self) -> None:
        self.links: SurveyLinks | None = None
        self.signer: LinkSigner | None = None


class EmailSender:
    def __init__(
        self,
        config: EmailConfig,
        smtp: SmtpPool,
        limiter: RateLimiter,
        links: SurveyLinksSource,
        clock: Callable[[], datetime],
        session_pool: async_sessionmaker[AsyncSession],
        *,
        paced: bool = True,
        dkim: DkimSigner | None = None,
    ) -> None:
        self._pool = session_pool
        self._config = config
        self._smtp = smtp
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
        thread = None if _survey(reply) else await self._thread(recipient)
        if thread is not None:
            envelope = dataclasses.replace(
                envelope,
                subject=thread.subject,
                reply_to=thread.reply_to,
                in_reply_to=thread.in_reply_to,
                references=tuple(thread.references),
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
        if thread is not None:  # the customer's answer to this one finds its ticket
            with contextlib.suppress(*DB_ERRORS):
                async with self._pool() as session, session.begin():
                    await threads.remember(
                        session, str(message["Message-ID"]), thread.ticket_id, inbound=False
                    )
        return SendResult(SendStatus.SENT, external_id=message["Message-ID"])

    async def _thread(self, recipient: str) -> threads.ThreadHeaders | None:
        signer = self._links.signer
        if signer is None:
            return None
        try:
            async with self._pool() as session:
                return await threads.headers_for(
                    session, recipient, self._config.support_address, signer, self._clock()
                )
        except DB_ERRORS:
            return None  # sent unthreaded rather than not at all


def _survey(reply: Reply) -> bool:
    return any(
        isinstance(decode(button.data, (SurveyAnswer,)), SurveyAnswer)
        for row in reply.buttons
        for button in row
    )


def _language_of(reply: Reply) -> str:
    """The subject's and footer's language: the text's own (replies and surveys are written
    in the customer's language)."""
    letters = [c for c in reply.text if c.isalpha()]
    cyrillic = sum(1 for c in letters if "\u0400" <= c <= "\u04ff")
    return "ru" if letters and cyrillic * 2 >= len(letters) else "en"
