"""The rows the ticket report is computed from: one tuple per ticket, with the rule's name and
whether it was ever reopened, read in one statement."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import RoutingRule, Ticket

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


def _rows() -> Any:
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
            Ticket.created_at,
            Ticket.due_at,
            Ticket.first_response_at,
            Ticket.resolved_at,
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
        created,  # type: ignore[arg-type]
        due,  # type: ignore[arg-type]
        first,  # type: ignore[arg-type]
        resolved,  # type: ignore[arg-type]
        None if csat is None else int(csat),  # type: ignore[call-overload]
        bool(reopened),  # times reopened
    )


async def tickets_opened(
    session: AsyncSession, since: datetime, until: datetime
) -> list[TicketRow]:
    """Tickets opened in [since, until), merged ones left out (they live on in their target)."""
    statement = _rows().where(Ticket.created_at >= since, Ticket.created_at < until)
    return [_row(tuple(r)) for r in (await session.execute(statement)).all()]


async def tickets_open_at(session: AsyncSession, moment: datetime) -> list[TicketRow]:
    """The backlog as of `moment`: opened before it and neither resolved nor closed by then
    (a closed ticket counts as closed from its last change)."""
    # Written so each branch can use an index (status, resolved_at): the open ones are few.
    statement = _rows().where(
        Ticket.created_at < moment,
        or_(
            Ticket.status.in_(OPEN_STATUSES),
            and_(Ticket.status == "resolved", Ticket.resolved_at >= moment),
            and_(
                Ticket.status == "closed",
                Ticket.updated_at >= moment,
                or_(Ticket.resolved_at.is_(None), Ticket.resolved_at >= moment),
            ),
        ),
    )
    return [_row(tuple(r)) for r in (await session.execute(statement)).all()]
