"""Mail to the support address, as tickets.

A raw MIME message (what a mail provider's inbound webhook posts, signed like the generic HTTP
channel; the IMAP reader hands over the same) is parsed once, at the door, into what the ticket
needs: the sender, the subject, the thread (Message-ID, In-Reply-To, References, the address it
was sent to) and the new text only: quoted history and signatures trimmed (mail-parser-reply,
plus the Russian clients' "... написал(а):" line). Attachments are stored at the door, before
the message is queued (by SHA-256, so a redelivery stores nothing new), up to a size each;
larger ones are named with their size and "not kept".
Auto-replies, bounces and other machine mail never open a ticket, so two robots cannot answer
each other forever; a bounce marks the address it names unreachable.
"""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import getaddresses, parseaddr
from html.parser import HTMLParser
from typing import Any

from aiohttp import web
from mailparser_reply import EmailReplyParser
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channels.email import threads
from bot.core.conversation import Conversation
from bot.core.delivery.inbound_queue import MessageSource, Payload
from bot.core.delivery.outbox import ReplyBuffer
from bot.core.delivery.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, check
from bot.core.messages import InboundMessage, KeptFile
from bot.core.untrusted import storable
from bot.links.tokens import LinkSigner
from bot.web.errors import json_error, json_response
from bot.web.intake import with_body_limit
from storage.models import ChannelIdentity, Customer
from storage.repositories.customers import CustomerRepository
from storage.repositories.files import keep_blob

CHANNEL = "email"
MAX_TEXT = 20_000
MAX_FILES = 20
_QUOTE_HEADER = re.compile(
    r"^\s*(?:>?\s*)?(?:\S.{0,200}?)\s(?:написал|написала|пишет|wrote)\s*:\s*$", re.M | re.I
)
_SIGNATURE = re.compile(r"^-- ?$", re.M)
_REPLY = EmailReplyParser(languages=["en", "ru"])
Accept = Callable[[str, str, dict[str, Any]], Awaitable[int | None]]


@dataclass(frozen=True)
class FilePart:
    name: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Parsed:
    payload: dict[str, Any]
    key: str  # the Message-ID (or a digest): a redelivered message is stored once
    files: tuple[FilePart, ...] = ()


Deliver = Callable[[Parsed], Awaitable[int | None]]


class NotMail(ValueError):
    """The body is not a message we can read (no sender)."""


def parse(raw: bytes) -> Parsed:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    name, sender = parseaddr(str(message.get("From", "")))
    sender = sender.strip().lower()
    if "@" not in sender or len(sender) > 128:
        raise NotMail("no sender address in From")
    recipients = [
        address.lower()
        for _, address in getaddresses(
            [str(v) for h in ("To", "Cc", "Delivered-To") for v in message.get_all(h, [])]
        )
    ]
    references = [
        token
        for header in ("References", "In-Reply-To")
        for token in re.findall(r"<[^<>\s]{1,250}>", str(message.get(header, "")))
    ]
    message_id = str(message.get("Message-ID", "")).strip()[:255]
    kind, failed = _machine(message)
    payload = {
        "from": sender,
        "name": storable(name)[:256],
        "to": recipients[:20],
        "subject": storable(str(message.get("Subject", "")))[:300],
        "message_id": message_id,
        "references": list(dict.fromkeys(references))[-50:],
        "text": "" if kind != "mail" else new_text(_body(message))[:MAX_TEXT],
        "attachments": [],
        "kind": kind,
        "failed": failed,
    }
    key = message_id or f"{sender}:{payload['subject']}:{message.get('Date', '')}"
    files = _attachments(message) if kind == "mail" else ()
    payload["attachments"] = [[f.name, len(f.data), f.content_type, ""] for f in files]
    return Parsed(payload, key[:128], files)


def _machine(message: EmailMessage) -> tuple[str, list[str]]:
    """ "bounce" (with the addresses that failed), "auto" (an auto-reply, a list, a robot) or
    "mail" (a person)."""
    content = message.get_content_type()
    if content == "multipart/report" or str(message.get("X-Failed-Recipients", "")):
        failed = re.findall(
            r"(?im)^(?:Final-Recipient|Original-Recipient):\s*rfc822;\s*(\S+@\S+)\s*$",
            _report_text(message),
        )
        failed += [a for _, a in getaddresses([str(message.get("X-Failed-Recipients", ""))])]
        return "bounce", sorted({a.strip("<>").lower() for a in failed if "@" in a})
    auto = str(message.get("Auto-Submitted", "no")).strip().lower()
    precedence = str(message.get("Precedence", "")).strip().lower()
    sender = parseaddr(str(message.get("From", "")))[1].lower()
    if (
        auto not in ("", "no")
        or precedence in ("bulk", "junk", "list", "auto_reply")
        or message.get("X-Autoreply") is not None
        or message.get("X-Autorespond") is not None
        or message.get("List-Id") is not None
        or sender.startswith(("mailer-daemon@", "postmaster@", "noreply@", "no-reply@"))
    ):
        return "auto", []
    return "mail", []


def _report_text(message: EmailMessage) -> str:
    parts = []
    for part in message.walk():
        if part.get_content_type() in ("message/delivery-status", "text/plain"):
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                parts.append(payload.decode("utf-8", "replace"))
            elif part.is_multipart():
                parts += [str(p) for p in part.get_payload()]
    return "\n".join(parts)


def _body(message: EmailMessage) -> str:
    part = message.get_body(("plain", "html"))
    if part is None:
        return ""
    try:
        content = part.get_content()
    except (LookupError, ValueError):  # an unknown charset: what can be read of it
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    if part.get_content_type() == "text/html":
        return _html_text(str(content))
    return str(content)


def new_text(text: str) -> str:
    """What the customer wrote this time: quoted history and the signature cut."""
    text = storable(text.replace("\r\n", "\n"))
    text = _REPLY.parse_reply(text=text) or text
    header = _QUOTE_HEADER.search(text)
    if header is not None:
        text = text[: header.start()]
    signature = _SIGNATURE.search(text)
    if signature is not None:
        text = text[: signature.start()]
    lines = [line for line in text.splitlines() if not line.startswith(">")]
    return "\n".join(lines).strip()


def _attachments(message: EmailMessage) -> tuple[FilePart, ...]:
    found: list[FilePart] = []
    for part in message.iter_attachments():
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            continue
        name = storable(part.get_filename() or "attachment").replace("/", "_")[:120]
        found.append(FilePart(name, part.get_content_type()[:128], payload))
    return tuple(found[:MAX_FILES])


def door(pool: async_sessionmaker[AsyncSession], accept: Accept, max_file_bytes: int) -> Deliver:
    """Where a parsed mail enters: its attachments up to `max_file_bytes` each are stored
    (their SHA-256 goes into the payload), then the mail is queued."""

    async def deliver(parsed: Parsed) -> int | None:
        kept = [f for f in parsed.files if len(f.data) <= max_file_bytes]
        if kept:
            async with pool() as session, session.begin():
                digests = {id(f): await keep_blob(session, f.data) for f in kept}
            for listed, part in zip(parsed.payload["attachments"], parsed.files, strict=True):
                listed[3] = digests.get(id(part), "")
        return await accept(CHANNEL, parsed.key, parsed.payload)

    return deliver


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in ("script", "style", "head"):
            self._skip += 1
        elif tag in ("br", "p", "div", "tr", "li", "blockquote"):
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "head"):
            self._skip = max(self._skip - 1, 0)

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def _html_text(html: str) -> str:
    reader = _Text()
    reader.feed(html)
    return re.sub(r"\n{3,}", "\n\n", "".join(reader.parts))


def _described(payload: Payload) -> str:
    """The text, and the files named with their size (what the staff group shows)."""
    text = str(payload.get("text", ""))
    files = payload.get("attachments") or []
    if files:
        listed = ", ".join(
            f"{file[0]} ({file[1] // 1024 + 1} KB{'' if file[3] else ', not kept: too large'})"
            for file in files
        )
        text = f"{text}\n\n📎 {listed}".strip()
    return text


def _kept(payload: Payload) -> tuple[KeptFile, ...]:
    return tuple(
        KeptFile(str(f[0]), str(f[2]), int(f[1]), str(f[3]))
        for f in payload.get("attachments") or []
        if f[3]
    )


def source(
    conversation: Conversation,
    signer: Callable[[], LinkSigner | None],
    clock: Callable[[], datetime],
) -> MessageSource:
    """Email as a source of the inbound queue: a person's mail becomes a threaded message for
    a ticket; machine mail becomes nothing (a bounce marks its address unreachable)."""

    async def prepare(session: AsyncSession, payload: Payload) -> InboundMessage | None:
        sender = str(payload.get("from", ""))
        if payload.get("kind") == "bounce":
            await _bounced(session, [str(a) for a in payload.get("failed") or []])
            return None
        if payload.get("kind") != "mail" or not sender:
            return None
        key = signer()
        now = clock()
        thread = threads.ticket_of_address(list(payload.get("to") or []), key, now) if key else None
        if thread is None:
            thread = await threads.ticket_of_thread(
                session, list(payload.get("references") or []), str(payload.get("subject", ""))
            )
        text = _described(payload)
        if not thread:
            subject = str(payload.get("subject", "")).strip()
            text = f"{subject}\n\n{text}".strip() if subject else text
        return InboundMessage(
            channel=CHANNEL,
            external_id=sender,
            text=text,
            display_name=str(payload.get("name", "")),
            thread=thread or 0,
            files=_kept(payload),
        )

    return EmailSource(CHANNEL, CHANNEL, prepare, conversation)


async def _bounced(session: AsyncSession, addresses: list[str]) -> None:
    customers = CustomerRepository(session)
    for address in addresses[:20]:
        customer_id = (
            await session.execute(
                select(ChannelIdentity.customer_id).where(
                    ChannelIdentity.channel == CHANNEL, ChannelIdentity.external_id == address
                )
            )
        ).scalar_one_or_none()
        customer = await session.get(Customer, customer_id) if customer_id else None
        if customer is not None:
            await customers.mark_blocked(customer, CHANNEL)


class EmailSource(MessageSource):
    """A MessageSource that, once a mail is handled, keeps its Message-ID with the ticket it
    went to, so the next reply in the thread finds it."""

    async def handle(self, session: AsyncSession, payloads: Sequence[Payload]) -> list[ReplyBuffer]:
        buffers = await super().handle(session, payloads)
        for payload in payloads:
            message_id = str(payload.get("message_id", ""))
            if payload.get("kind") != "mail" or not message_id:
                continue
            ticket_id = await threads.newest_ticket(session, str(payload.get("from", "")))
            if ticket_id is not None:
                await threads.remember(session, message_id, ticket_id, inbound=True)
        return buffers


def route(
    path: str, secret: str, deliver: Deliver, clock: Callable[[], float], max_bytes: int
) -> web.RouteDef:
    """The raw-MIME webhook; its own body limit (`[email] inbound_max_kb`), since mail with
    attachments is larger than the API's requests."""

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        problem = check(
            secret,
            request.headers.get(TIMESTAMP_HEADER, ""),
            request.headers.get(SIGNATURE_HEADER, ""),
            body,
            clock(),
        )
        if problem is not None:
            return json_error(401, problem)
        try:
            parsed = parse(body)
        except NotMail as exc:
            return json_error(400, str(exc))
        duplicate = await deliver(parsed) is None
        return json_response({"accepted": True, "duplicate": duplicate}, status=202)

    return web.post(path, with_body_limit(receive, max_bytes))
