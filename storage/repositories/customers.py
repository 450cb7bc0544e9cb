from __future__ import annotations

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ChannelIdentity, Customer, utcnow
from storage.repositories._upsert import insert_ignore

# Every inbound message starts here: built once, so no statement is rebuilt per message.
_BY_IDENTITY = (
    select(Customer)
    .join(ChannelIdentity, ChannelIdentity.customer_id == Customer.id)
    .where(
        ChannelIdentity.channel == bindparam("channel"),
        ChannelIdentity.external_id == bindparam("external_id"),
    )
)


class CustomerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def by_identity(self, channel: str, external_id: str) -> Customer | None:
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
            winner = await self.by_identity(channel, external_id)
            assert winner is not None
            return winner
        return customer

    async def external_id(self, customer_id: int, channel: str) -> str | None:
        """The customer's address on a channel, if they ever used it."""
        statement = select(ChannelIdentity.external_id).where(
            ChannelIdentity.customer_id == customer_id, ChannelIdentity.channel == channel
        )
        return (await self._session.execute(statement)).scalars().first()
