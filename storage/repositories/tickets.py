from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from sqlalchemy import (
    ColumnElement,
    ScalarSelect,
    Select,
    bindparam,
    delete,
    event,
    func,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, QueryableAttribute, Session, object_session

from storage.models import (
    CannedReply,
    RoutingRule,
    StaffPost,
    Ticket,
    TicketFile,
    TicketLabel,
    TicketMessage,
    utcnow,
)
from storage.repositories._memo import forget, memo, remember

OPEN_STATUSES = ("new", "open", "waiting")


class FileNamed(Protocol):
    """A stored file as a message lists it (bot.core.messages.KeptFile)."""

    @property
    def name(self) -> str: ...
    @property
    def content_type(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def sha256(self) -> str: ...


_TICKETS = Ticket.__table__
# customer id -> open ticket id (or None), as looked up in this transaction.
_OPEN_TICKETS = "open_tickets"


def _open_ticket_id(
    customer_id: ColumnElement[int] | QueryableAttribute[int],
) -> Select[int]:
    return (
        select(_TICKETS.c.id)
        .where(
            _TICKETS.c.customer_id == customer_id,
            _TICKETS.c.status.in_(OPEN_STATUSES),
            _TICKETS.c.merged_into_id.is_(None),
        )
        .order_by(_TICKETS.c.id.desc())
        .limit(1)
    )


_OPEN_TICKET_ID = _open_ticket_id(bindparam("customer_id"))


def open_ticket_id_of(
    customer_id: ColumnElement[int] | QueryableAttribute[int],
) -> ScalarSelect[int]:
    """The customer's open ticket id as a correlated subquery, for queries that load many
    customers at once; pass what they find to `remember_open_tickets`."""
    subquery: ScalarSelect[int] = _open_ticket_id(customer_id).scalar_subquery()
    return subquery


def remember_open_tickets(session: AsyncSession, known: dict[int, int | None]) -> None:
    remember(session, _OPEN_TICKETS, known)


# A memo of open tickets is only as good as the tickets it describes: any ticket created,
# attached or changed in the session forgets it, before the change is even flushed.
@event.listens_for(Ticket.status, "set")
@event.listens_for(Ticket.merged_into_id, "set")
@event.listens_for(Ticket.customer_id, "set")
def _ticket_changed(target: Ticket, value: object, old: object, initiator: object) -> None:
    forget(object_session(target), _OPEN_TICKETS)


@event.listens_for(Session, "after_attach")
def _ticket_attached(session: Session, instance: object) -> None:
    if isinstance(instance, Ticket):
        forget(session, _OPEN_TICKETS)


@event.listens_for(Session, "do_orm_execute")
def _tickets_written(state: ORMExecuteState) -> None:
    if (state.is_insert or state.is_update or state.is_delete) and getattr(
        state.statement, "table", None
    ) is _TICKETS:
        forget(state.session, _OPEN_TICKETS)


class TicketRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def labels_of(self, ticket_ids: Sequence[int]) -> dict[int, list[str]]:
        """Each ticket's labels, alphabetically."""
        if not ticket_ids:
            return {}
        statement = (
            select(TicketLabel.ticket_id, TicketLabel.label)
            .where(TicketLabel.ticket_id.in_(list(ticket_ids)))
            .order_by(TicketLabel.label)
        )
        found: dict[int, list[str]] = {}
        for ticket_id, label in (await self._session.execute(statement)).all():
            found.setdefault(int(ticket_id), []).append(str(label))
        return found

    async def set_labels(self, ticket_id: int, labels: Sequence[str]) -> None:
        """The ticket's labels are exactly `labels` afterwards."""
        await self._session.execute(delete(TicketLabel).where(TicketLabel.ticket_id == ticket_id))
        self._session.add_all(TicketLabel(ticket_id=ticket_id, label=label) for label in labels)
        await self._session.flush()

    async def all_labels(self, limit: int = 200) -> list[str]:
        """Labels in use, most used first: what the inbox offers to pick from."""
        statement = (
            select(TicketLabel.label)
            .group_by(TicketLabel.label)
            .order_by(func.count().desc(), TicketLabel.label)
            .limit(limit)
        )
        return [str(label) for label in (await self._session.execute(statement)).scalars()]

    async def get(self, ticket_id: int) -> Ticket | None:
        return await self._session.get(Ticket, ticket_id)

    async def add(self, ticket: Ticket) -> Ticket:
        self._session.add(ticket)
        await self._session.flush()
        return ticket

    async def open_for_customer(self, customer_id: int) -> Ticket | None:
        """Asked on every customer message: an id lookup built once, then the ticket itself
        only when there is one."""
        known = memo(self._session, _OPEN_TICKETS)
        if known is not None and customer_id in known:
            ticket_id = known[customer_id]
        else:
            # Through the session: its autoflush writes a status changed earlier in the batch.
            found = await self._session.execute(_OPEN_TICKET_ID, {"customer_id": customer_id})
            ticket_id = found.scalar_one_or_none()
            remember_open_tickets(self._session, {customer_id: ticket_id})
        return None if ticket_id is None else await self._session.get(Ticket, ticket_id)

    async def for_customer(self, customer_id: int, limit: int = 10) -> Sequence[Ticket]:
        statement = (
            select(Ticket)
            .where(Ticket.customer_id == customer_id)
            .order_by(Ticket.id.desc())
            .limit(limit)
        )
        return (await self._session.execute(statement)).scalars().all()

    async def by_thread(self, thread_id: int) -> Ticket | None:
        statement = select(Ticket).where(Ticket.staff_thread_id == thread_id)
        return (await self._session.execute(statement)).scalar_one_or_none()

    async def claim_version(self, ticket_id: int, version: int) -> bool:
        """Raise the version if it is still `version`: one writer wins a race, the other sees
        that the ticket changed under it."""
        result = await self._session.execute(
            update(Ticket)
            .where(Ticket.id == ticket_id, Ticket.version == version)
            .values(version=version + 1)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0))

    async def listing(self, status: str | None = None, limit: int = 50) -> Sequence[Ticket]:
        statement = select(Ticket).order_by(Ticket.id.desc()).limit(limit)
        if status == "open":
            statement = statement.where(Ticket.status.in_(OPEN_STATUSES))
        elif status:
            statement = statement.where(Ticket.status == status)
        return (await self._session.execute(statement)).scalars().all()

    async def with_due_alerts(self) -> Sequence[Ticket]:
        """Open tickets still waiting for a first response: the SLA watch looks at these."""
        statement = select(Ticket).where(
            Ticket.status.in_(OPEN_STATUSES),
            Ticket.first_response_at.is_(None),
            Ticket.due_at.is_not(None),
            Ticket.merged_into_id.is_(None),
        )
        return (await self._session.execute(statement)).scalars().all()

    async def add_message(
        self,
        ticket: Ticket,
        kind: str,
        text: str,
        author: str = "",
        attachment: tuple[str, str] | None = None,
        channel: str = "",
        at: datetime | None = None,
        files: Sequence[FileNamed] = (),
    ) -> TicketMessage:
        """`at`: the caller's clock (the ticket service's), else now. `files`: kept in
        `file_blobs` by the channel already; listed here under this message."""
        when = at or utcnow()
        message = TicketMessage(
            ticket_id=ticket.id,
            created_at=when,
            kind=kind,
            channel=channel,
            author=author[:128],
            text=text,
            attachment_kind=attachment[0] if attachment else None,
            attachment_id=attachment[1] if attachment else None,
        )
        ticket.updated_at = when
        ticket.version = (ticket.version or 1) + 1
        self._session.add(message)
        await self._session.flush()
        for file in files:
            self._session.add(
                TicketFile(
                    message_id=message.id,
                    name=file.name,
                    content_type=file.content_type,
                    size=file.size,
                    sha256=file.sha256,
                )
            )
        return message

    async def messages(self, ticket_id: int) -> Sequence[TicketMessage]:
        statement = (
            select(TicketMessage)
            .where(TicketMessage.ticket_id == ticket_id)
            .order_by(TicketMessage.id)
        )
        return (await self._session.execute(statement)).scalars().all()


class RuleRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def ordered(self) -> Sequence[RoutingRule]:
        statement = select(RoutingRule).order_by(RoutingRule.position, RoutingRule.id)
        return (await self._session.execute(statement)).scalars().all()

    async def by_name(self, name: str) -> RoutingRule | None:
        statement = select(RoutingRule).where(RoutingRule.name == name)
        return (await self._session.execute(statement)).scalar_one_or_none()

    async def add(self, rule: RoutingRule) -> RoutingRule:
        self._session.add(rule)
        await self._session.flush()
        return rule

    async def remove(self, name: str) -> bool:
        result = await self._session.execute(delete(RoutingRule).where(RoutingRule.name == name))
        return bool(getattr(result, "rowcount", 0))


class CannedRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def all(self) -> Sequence[CannedReply]:
        statement = select(CannedReply).order_by(CannedReply.name)
        return (await self._session.execute(statement)).scalars().all()

    async def get(self, name: str) -> CannedReply | None:
        statement = select(CannedReply).where(CannedReply.name == name)
        return (await self._session.execute(statement)).scalar_one_or_none()

    async def add(self, name: str, text: str) -> CannedReply:
        existing = await self.get(name)
        if existing is not None:
            existing.text = text
            return existing
        reply = CannedReply(name=name, text=text)
        self._session.add(reply)
        await self._session.flush()
        return reply

    async def remove(self, name: str) -> bool:
        result = await self._session.execute(delete(CannedReply).where(CannedReply.name == name))
        return bool(getattr(result, "rowcount", 0))


class StaffPostRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def remember(self, message_id: int, ticket_id: int) -> None:
        await self._session.merge(StaffPost(message_id=message_id, ticket_id=ticket_id))

    async def ticket_of(self, message_id: int) -> int | None:
        post = await self._session.get(StaffPost, message_id)
        return post.ticket_id if post else None
