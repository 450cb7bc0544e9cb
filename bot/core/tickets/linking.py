"""One customer across channels: a one-time code asked for in one channel and typed in another
makes both identities one customer, with one history, one ticket list, one survey throttle.
Staff can do the same by hand. Both go through `merge`, which keeps an audit row.

A typed code joins nothing yet. Someone can be talked into typing another person's code ("type
/link ABCD-EFGH for your discount"), which would hand that person their history, or into telling
theirs. So the typer is shown which chat the code came from and asked to confirm, and the chat
that asked for the code is told which chat typed it, with a button to call it off."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.tickets.service import Effects, TicketService
from storage.models import Customer, LinkCode, Ticket
from storage.repositories.merges import merge_customers
from storage.repositories.tickets import OPEN_STATUSES

# No 0/O, 1/I: read aloud or retyped from another screen without mistakes. 32^8 codes.
ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8
CODE_TTL = timedelta(minutes=10)


class LinkOutcome(Enum):
    PROPOSED = "proposed"  # typed: waits for the typer's yes
    LINKED = "linked"
    INVALID = "invalid"  # unknown, used or expired: one answer, so codes cannot be probed
    SAME = "same"  # this chat already belongs to the customer who asked for the code


@dataclass
class LinkResult:
    outcome: LinkOutcome
    customer: Customer | None = None  # who the customer is now (PROPOSED: the code's owner)
    effects: Effects | None = None
    code: str = ""


def normalize(text: str) -> str:
    """What a customer types ("abcd-efgh", "ABCD EFGH") as the stored code."""
    return "".join(c for c in text.upper() if c in ALPHABET)


def formatted(code: str) -> str:
    return f"{code[:4]}-{code[4:]}"


class Linking:
    def __init__(self, tickets: TicketService, clock: Callable[[], datetime]) -> None:
        self._tickets = tickets
        self._clock = clock

    async def new_code(self, session: AsyncSession, customer: Customer) -> str:
        code = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
        session.add(
            LinkCode(code=code, customer_id=customer.id, expires_at=self._clock() + CODE_TTL)
        )
        return formatted(code)

    async def _live(self, session: AsyncSession, typed: str) -> LinkCode | None:
        link = await session.get(LinkCode, normalize(typed)[:16])
        if link is None or link.used_at is not None or link.expires_at <= self._clock():
            return None
        return link

    async def propose(self, session: AsyncSession, customer: Customer, typed: str) -> LinkResult:
        """`customer` typed a code: whose it is, held for this typer until they answer. A
        code someone else typed first is invalid for everyone else (one answer for every bad
        code, so codes cannot be probed)."""
        link = await self._live(session, typed)
        if link is None:
            return LinkResult(LinkOutcome.INVALID)
        if link.customer_id == customer.id:
            return LinkResult(LinkOutcome.SAME, customer)
        if link.claimed_by not in (None, customer.id):
            return LinkResult(LinkOutcome.INVALID)
        owner = await session.get(Customer, link.customer_id)
        if owner is None or owner.merged_into is not None:
            return LinkResult(LinkOutcome.INVALID)
        link.claimed_by = customer.id
        link.claimed_at = self._clock()
        return LinkResult(LinkOutcome.PROPOSED, owner, code=link.code)

    async def confirm(
        self, session: AsyncSession, customer: Customer, code: str, channel: str
    ) -> LinkResult:
        """The typer said yes: they become the code's owner."""
        link = await self._live(session, code)
        if link is None or link.claimed_by != customer.id:
            return LinkResult(LinkOutcome.INVALID)
        owner = await session.get(Customer, link.customer_id)
        if owner is None or owner.merged_into is not None:
            return LinkResult(LinkOutcome.INVALID)
        if owner.id == customer.id:
            return LinkResult(LinkOutcome.SAME, customer)
        link.used_at = self._clock()
        effects = await self.merge(session, customer, owner, "link code")
        owner.last_channel = channel  # they are writing here now
        owner.language = customer.language
        return LinkResult(LinkOutcome.LINKED, owner, effects, code=link.code)

    async def decline(self, session: AsyncSession, customer: Customer, code: str) -> bool:
        """The typer said no: the code is free again (it may have been typed by mistake)."""
        link = await self._live(session, code)
        if link is None or link.claimed_by != customer.id:
            return False
        link.claimed_by = None
        link.claimed_at = None
        return True

    async def call_off(self, session: AsyncSession, owner: Customer, code: str) -> bool:
        """The chat that asked for the code says "this is not me": the code stops working."""
        link = await self._live(session, code)
        if link is None or link.customer_id != owner.id:
            return False
        link.used_at = self._clock()
        return True

    async def merge(
        self, session: AsyncSession, source: Customer, target: Customer, by: str
    ) -> Effects:
        """`source` becomes `target`. Two open tickets become one (the newer joins the older),
        and staff see it in the topic."""
        await merge_customers(session, source, target, by, self._clock())
        open_tickets = (
            (
                await session.execute(
                    select(Ticket)
                    .where(Ticket.customer_id == target.id, Ticket.status.in_(OPEN_STATUSES))
                    .order_by(Ticket.id)
                    # Tickets already loaded still say their old customer: the move above
                    # was one UPDATE, not through them.
                    .execution_options(populate_existing=True)
                )
            )
            .scalars()
            .all()
        )
        effects = Effects()
        for duplicate in open_tickets[1:]:
            merged = await self._tickets.merge(session, duplicate, open_tickets[0], by)
            effects.posts.extend(merged.posts)
        return effects
