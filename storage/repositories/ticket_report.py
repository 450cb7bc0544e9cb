"""The rows the ticket report is computed from: one tuple per ticket, with the rule's name and
whether it was ever reopened, read in one statement.

Times are read as seconds since the epoch computed by the database and made into datetimes
here: parsing SQLite's stored text four times a row was most of a month's report."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import dialect_name
from storage.models import RoutingRule, Ticket
from storage.repositories._epoch import EPOCH, epoch_micros, moment

OPEN_STATUSES = ("new", "open", "waiting")


@dataclass(frozen=True)
class TicketRow:
    id: int
    customer_id: int
    subject: str
    status: str
    category: str
    channel: str
    priority: str
    rule: str
    assignee: str
    created_at: datetime
    due_at: datetime | None
    first_response_at: datetime | None
    resolved_at: datetime | None
    csat_score: int | None
    reopened: bool


def _rows(dialect: str) -> Any:
    return (
        select(
            Ticket.id,
            Ticket.customer_id,
            Ticket.subject,
            Ticket.status,
            Ticket.category,
            Ticket.channel,
            Ticket.priority,
            RoutingRule.name,
            Ticket.assignee_name,
            epoch_micros(Ticket.__table__.c.created_at, dialect),
            epoch_micros(Ticket.__table__.c.due_at, dialect),
            epoch_micros(Ticket.__table__.c.first_response_at, dialect),
            epoch_micros(Ticket.__table__.c.resolved_at, dialect),
            Ticket.csat_score,
            Ticket.reopens,
        )
        .outerjoin(RoutingRule, RoutingRule.id == Ticket.matched_rule_id)
        .where(Ticket.merged_into_id.is_(None))
        .order_by(Ticket.id)
    )


def _row(values: tuple[object, ...]) -> TicketRow:
    (id_, customer, subject, status, category, channel, priority, rule, assignee) = values[:9]
    created, due, first, resolved, csat, reopened = values[9:]
    return TicketRow(
        int(id_),  # type: ignore[call-overload]
        int(customer),  # type: ignore[call-overload]
        str(subject),
        str(status),
        str(category),
        str(channel),
        str(priority),
        str(rule or ""),
        str(assignee or ""),
        moment(created) or EPOCH,
        moment(due),
        moment(first),
        moment(resolved),
        None if csat is None else int(csat),  # type: ignore[call-overload]
        bool(reopened),  # times reopened
    )


async def tickets_opened(
    session: AsyncSession, since: datetime, until: datetime
) -> list[TicketRow]:
    """Tickets opened in [since, until), merged ones left out (they live on in their target)."""
    statement = _rows(dialect_name(session)).where(
        Ticket.created_at >= since, Ticket.created_at < until
    )
    return [_row(tuple(r)) for r in (await session.execute(statement)).all()]


async def tickets_open_at(session: AsyncSession, moment: datetime) -> list[TicketRow]:
    """The backlog as of `moment`: opened before it and neither resolved nor closed by then
    (a closed ticket counts as closed from its last change). Three statements, each on its own
    index (status; resolved_at; status again), since one with OR read every older ticket."""
    dialect = dialect_name(session)
    older = Ticket.created_at < moment
    found: list[TicketRow] = []
    for condition in (
        Ticket.status.in_(OPEN_STATUSES),
        and_(Ticket.resolved_at >= moment, Ticket.status == "resolved"),
        and_(
            Ticket.status == "closed",
            Ticket.updated_at >= moment,
            or_(Ticket.resolved_at.is_(None), Ticket.resolved_at >= moment),
        ),
    ):
        statement = _rows(dialect).where(older, condition)
        found += [_row(tuple(r)) for r in (await session.execute(statement)).all()]
    return sorted(found, key=lambda r: r.id)
