from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.identities import shown_id
from storage.models import ChannelIdentity, Customer, Ticket, utcnow
from storage.repositories._memo import forget, memo, remember
from storage.repositories._upsert import insert_ignore
from storage.repositories.tickets import open_ticket_id_of, remember_open_tickets

# Every inbound message starts here: built once, so no statement is rebuilt per message.
_BY_IDENTITY = (
    select(Customer)
    .join(ChannelIdentity, ChannelIdentity.customer_id == Customer.id)
    .where(
        ChannelIdentity.channel == bindparam("channel"),
        ChannelIdentity.external_id == bindparam("external_id"),
    )
)

_PRELOAD = (
    select(ChannelIdentity.external_id, Customer, open_ticket_id_of(Customer.id))
    .join(ChannelIdentity, ChannelIdentity.customer_id == Customer.id)
    .where(
        ChannelIdentity.channel == bindparam("channel"),
        ChannelIdentity.external_id.in_(bindparam("external_ids", expanding=True)),
    )
)
# (channel, external id) -> the customer behind it, or None for one not seen before.
_BY_IDENTITY_MEMO = "customers"


def blocked_channels(customer: Customer) -> set[str]:
    return {c for c in (customer.blocked_channels or "").split(",") if c}


def wrote_on(customer: Customer, channel: str) -> None:
    """They wrote on `channel`: it reaches them again (a Telegram user who unblocked the bot)."""
    blocked = blocked_channels(customer)
    if channel in blocked:
        customer.blocked_channels = ",".join(sorted(blocked - {channel}))
    if customer.unreachable:
        customer.unreachable = False


@dataclass(frozen=True)
class CustomerCard:
    """What staff see of a customer (the API's and the CLI's `customers show`): their
    addresses as shown to staff (never a web chat session id) and their tickets."""

    customer: Customer
    identities: list[tuple[str, str]]  # (channel, shown id), oldest first
    tickets: list[tuple[int, str, str]]  # (id, status, subject), oldest first


class CustomerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def preload(self, channel: str, external_ids: Collection[str]) -> None:
        """Look up the customers behind many identities, with their open tickets, in one query;
        messages handled later in this transaction then ask nothing of the database first."""
        if not external_ids:
            return  # a batch of staff or admin messages only
        found = await self._session.execute(
            _PRELOAD, {"channel": channel, "external_ids": list(external_ids)}
        )
        customers: dict[tuple[str, str], Customer | None] = {
            (channel, external_id): None for external_id in external_ids
        }
        open_tickets: dict[int, int | None] = {}
        for external_id, customer, ticket_id in found:
            customers[channel, external_id] = customer
            open_tickets[customer.id] = ticket_id
        remember(self._session, _BY_IDENTITY_MEMO, customers)
        remember_open_tickets(self._session, open_tickets)

    async def by_identity(self, channel: str, external_id: str) -> Customer | None:
        known = memo(self._session, _BY_IDENTITY_MEMO)
        if known is not None and (channel, external_id) in known:
            customer: Customer | None = known[channel, external_id]
            return customer
        found = await self._session.execute(
            _BY_IDENTITY, {"channel": channel, "external_id": external_id}
        )
        return found.scalar_one_or_none()

    async def get_or_create(
        self, channel: str, external_id: str, display_name: str, language: str
    ) -> Customer:
        """Find the customer behind a channel identity, creating both on first contact.

        Two first messages racing each other create one identity: the loser's insert is ignored
        and its orphan customer row removed.
        """
        customer = await self.by_identity(channel, external_id)
        if customer is not None:
            return customer
        customer = Customer(display_name=display_name, language=language, last_channel=channel)
        self._session.add(customer)
        await self._session.flush()
        inserted = await insert_ignore(
            self._session,
            ChannelIdentity.__table__,  # type: ignore[arg-type]
            {
                "channel": channel,
                "external_id": external_id,
                "customer_id": customer.id,
                "created_at": utcnow(),
            },
            ["channel", "external_id"],
        )
        if inserted is None:
            await self._session.delete(customer)
            forget(self._session, _BY_IDENTITY_MEMO)
            winner = await self.by_identity(channel, external_id)
            assert winner is not None
            return winner
        remember(self._session, _BY_IDENTITY_MEMO, {(channel, external_id): customer})
        remember_open_tickets(self._session, {customer.id: None})  # new: no ticket to look for
        return customer

    async def mark_blocked(self, customer: Customer, channel: str) -> None:
        """The platform says this customer blocked us there; unreachable once every channel
        they have says so."""
        blocked = blocked_channels(customer) | {channel}
        customer.blocked_channels = ",".join(sorted(blocked))[:256]
        customer.unreachable = set(await self.channels(customer.id)) <= blocked

    async def channels(self, customer_id: int) -> list[str]:
        """Every channel the customer has an address on, oldest first."""
        statement = (
            select(ChannelIdentity.channel)
            .where(ChannelIdentity.customer_id == customer_id)
            .order_by(ChannelIdentity.id)
        )
        return list(dict.fromkeys((await self._session.execute(statement)).scalars()))

    async def card(self, customer_id: int) -> CustomerCard | None:
        customer = await self._session.get(Customer, customer_id)
        if customer is None:
            return None
        identities = await self._session.execute(
            select(ChannelIdentity.channel, ChannelIdentity.external_id)
            .where(ChannelIdentity.customer_id == customer_id)
            .order_by(ChannelIdentity.id)
        )
        tickets = await self._session.execute(
            select(Ticket.id, Ticket.status, Ticket.subject)
            .where(Ticket.customer_id == customer_id)
            .order_by(Ticket.id)
        )
        return CustomerCard(
            customer,
            [(channel, shown_id(channel, external)) for channel, external in identities],
            [(ticket_id, status, subject) for ticket_id, status, subject in tickets],
        )

    async def external_id(self, customer_id: int, channel: str) -> str | None:
        """The customer's address on a channel, if they ever used it."""
        statement = select(ChannelIdentity.external_id).where(
            ChannelIdentity.customer_id == customer_id, ChannelIdentity.channel == channel
        )
        return (await self._session.execute(statement)).scalars().first()
