"""Which ticket an email belongs to, and how a staff reply joins the customer's thread.

A reply finds its ticket by, in order: the per-ticket reply address it was sent to
(`support+TOKEN@domain`, the token signed so nobody can guess another's; Chatwoot's way), then
the Message-IDs in its `In-Reply-To` and `References` (every email sent or received for a ticket
is kept in `email_messages`), then a `[#123]` tag in its subject. The conversation then checks
the ticket is this sender's: a reply from another address to an old thread opens a ticket of
its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.links.tokens import LinkSigner
from storage.models import ChannelIdentity, EmailThreadMessage, Ticket
from storage.repositories._upsert import upsert_insert

CHANNEL = "email"
TAG = re.compile(r"\[#(\d{1,9})\]")
TOKEN_DAYS = 3650  # a reply address works as long as anyone keeps the email


@dataclass(frozen=True)
class ThreadHeaders:
    subject: str
    reply_to: str
    in_reply_to: str | None
    references: list[str]
    ticket_id: int


def reply_address(support: str, ticket_id: int, signer: LinkSigner, now: datetime) -> str:
    local, _, domain = support.partition("@")
    token = signer.sign("t", (ticket_id,), now + timedelta(days=TOKEN_DAYS))
    return f"{local}+{token}@{domain}"


def ticket_of_address(addresses: list[str], signer: LinkSigner, now: datetime) -> int | None:
    """The ticket a `support+TOKEN@` address names, if one of `addresses` is one."""
    for address in addresses:
        local = address.partition("@")[0]
        _, plus, token = local.partition("+")
        if plus:
            found = signer.read(token, now, "t")
            if found is not None:
                return found.ids[0]
    return None


async def ticket_of_thread(
    session: AsyncSession, message_ids: list[str], subject: str
) -> int | None:
    """The ticket of the newest of `message_ids` we know, else of the subject's tag."""
    if message_ids:
        rows = await session.execute(
            select(EmailThreadMessage.message_id, EmailThreadMessage.ticket_id).where(
                EmailThreadMessage.message_id.in_(message_ids[-50:])
            )
        )
        known: dict[str, int] = {message_id: ticket for message_id, ticket in rows.all()}
        for message_id in reversed(message_ids):
            if message_id in known:
                return known[message_id]
    tag = TAG.search(subject)
    return int(tag.group(1)) if tag else None


async def remember(session: AsyncSession, message_id: str, ticket_id: int, inbound: bool) -> None:
    if not message_id:
        return
    statement = (
        upsert_insert(session, EmailThreadMessage)
        .values(message_id=message_id[:255], ticket_id=ticket_id, inbound=inbound)
        .on_conflict_do_nothing(index_elements=["message_id"])
    )
    await session.execute(statement)


async def newest_ticket(session: AsyncSession, address: str) -> int | None:
    """The ticket a mail from `address` went to: its customer's open one, else the newest."""
    ticket = await _ticket_of_address_owner(session, address)
    return ticket.id if ticket is not None else None


async def _ticket_of_address_owner(session: AsyncSession, address: str) -> Ticket | None:
    return (
        await session.execute(
            select(Ticket)
            .join(ChannelIdentity, ChannelIdentity.customer_id == Ticket.customer_id)
            .where(ChannelIdentity.channel == CHANNEL, ChannelIdentity.external_id == address)
            .where(Ticket.merged_into_id.is_(None))
            .order_by((Ticket.status == "resolved").asc(), Ticket.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()


async def headers_for(
    session: AsyncSession, recipient: str, support: str, signer: LinkSigner, now: datetime
) -> ThreadHeaders | None:
    """The thread a staff reply to this address continues: its customer's open ticket (the
    newest ticket else), None when they have none."""
    ticket = await _ticket_of_address_owner(session, recipient)
    if ticket is None:
        return None
    rows = await session.execute(
        select(EmailThreadMessage.message_id, EmailThreadMessage.inbound)
        .where(EmailThreadMessage.ticket_id == ticket.id)
        .order_by(EmailThreadMessage.created_at, EmailThreadMessage.message_id)
    )
    thread = [(message_id, inbound) for message_id, inbound in rows.all()]
    received = [message_id for message_id, inbound in thread if inbound]
    subject = ticket.subject or ""
    return ThreadHeaders(
        subject=f"Re: {subject[:150]} [#{ticket.id}]" if subject else f"[#{ticket.id}]",
        reply_to=reply_address(support, ticket.id, signer, now),
        in_reply_to=received[-1] if received else None,
        references=[message_id for message_id, _ in thread][-10:],
        ticket_id=ticket.id,
    )
