"""What the ticket report reads besides the daily roll-ups (storage.repositories.ticket_rollups):
the conditions each figure is defined by, the breaches listed, the backlog by age, the times
measured for tickets that have none kept, and the rows behind a number.

The rows behind a number (the drill-down and its CSV) are read one per ticket, filtered here.
Times there are read as seconds since the epoch computed by the database: parsing SQLite's
stored text row by row was most of what a large list cost."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from storage.db import dialect_name
from storage.models import RoutingRule, Ticket
from storage.repositories._epoch import EPOCH, epoch_micros, moment

OPEN_STATUSES = ("new", "open", "waiting")
DIMENSIONS = ("category", "channel", "priority", "rule", "assignee")
FILL_BATCH = 1000

Working = Callable[[datetime, datetime], float]


# -- conditions, each defined once for the counts, the lists and the filters ------------------


def answered() -> ColumnElement[bool]:
    return Ticket.first_response_at.is_not(None)


def breached(now: datetime) -> ColumnElement[bool]:
    """Replied to after its due time, or not replied to and past due."""
    return and_(
        Ticket.due_at.is_not(None),
        or_(
            and_(Ticket.first_response_at.is_(None), Ticket.due_at < now),
            Ticket.first_response_at > Ticket.due_at,
        ),
    )


def on_time() -> ColumnElement[bool]:
    return and_(Ticket.due_at.is_not(None), Ticket.first_response_at <= Ticket.due_at)


def opened(since: datetime, until: datetime) -> ColumnElement[bool]:
    """Opened in [since, until), merged ones left out (they live on in their target)."""
    return and_(
        Ticket.created_at >= since, Ticket.created_at < until, Ticket.merged_into_id.is_(None)
    )


def _open_at(moment: datetime) -> list[ColumnElement[bool]]:
    """The backlog as of `moment`: opened before it and neither resolved nor closed by then
    (a closed ticket counts as closed from its last change). Three conditions, each read on
    its own index (status and time; resolved_at; status and time): one with OR read every
    older ticket."""
    older = and_(Ticket.created_at < moment, Ticket.merged_into_id.is_(None))
    return [
        and_(older, condition)
        for condition in (
            Ticket.status.in_(OPEN_STATUSES),
            # Only resolved and closed tickets have a resolved_at; "not closed" rather than
            # "resolved" keeps the planner on resolved_at (status would read every resolved).
            and_(Ticket.resolved_at >= moment, Ticket.status != "closed"),
            and_(
                Ticket.status == "closed",
                Ticket.updated_at >= moment,
                or_(Ticket.resolved_at.is_(None), Ticket.resolved_at >= moment),
            ),
        )
    ]


def unmeasured() -> ColumnElement[bool]:
    """Answered or resolved with no kept times (see fill_missing_times)."""
    return or_(
        and_(answered(), Ticket.first_response_seconds.is_(None)),
        and_(Ticket.resolved_at.is_not(None), Ticket.resolution_seconds.is_(None)),
    )


_RULE = func.coalesce(RoutingRule.name, "")


# -- the report's figures ---------------------------------------------------------------------


async def rule_names(session: AsyncSession) -> dict[int, str]:
    """Routing rules by id: the roll-ups and the groups keep a ticket's rule by its id."""
    return {
        int(id_): str(name or "")
        for id_, name in (await session.execute(select(RoutingRule.id, RoutingRule.name))).all()
    }


@dataclass(frozen=True)
class Breach:
    ticket: int
    subject: str
    due_at: datetime | None
    first_response_at: datetime | None


async def breaches(
    session: AsyncSession, since: datetime, until: datetime, now: datetime, limit: int
) -> list[Breach]:
    """The first `limit` breached tickets of the window, as they were opened (on the
    created_at index: by id, PostgreSQL walked every older ticket's id first)."""
    statement = (
        select(Ticket.id, Ticket.subject, Ticket.due_at, Ticket.first_response_at)
        .where(opened(since, until), breached(now))
        .order_by(Ticket.created_at, Ticket.id)
        .limit(limit)
    )
    return [Breach(*r) for r in (await session.execute(statement)).all()]


async def backlog_by_age(
    session: AsyncSession, moment: datetime, limits_days: Sequence[int]
) -> list[int]:
    """Tickets open at `moment`, counted by age: under limits_days[0] days, then up to each
    next limit, and the rest (len(limits_days) + 1 counts)."""
    bucket = case(
        *(
            (Ticket.created_at > moment - timedelta(days=days), index)
            for index, days in enumerate(limits_days)
        ),
        else_=len(limits_days),
    )
    counts = [0] * (len(limits_days) + 1)
    for condition in _open_at(moment):
        statement = select(bucket, func.count()).where(condition).group_by(bucket)
        for index, n in (await session.execute(statement)).all():
            counts[int(index)] += int(n)
    return counts


# -- the kept times: tickets answered or resolved before they were kept ----------------------


async def fill_missing_times(
    session: AsyncSession, since: datetime, until: datetime, working: Working
) -> int:
    """Measure and keep the times of the window's tickets answered or resolved with none kept:
    written by an import or another tool, or left from before revision 0034 (the app measures
    those at start). Written in the caller's transaction; the number filled is returned."""
    statement = select(
        Ticket.id, Ticket.created_at, Ticket.first_response_at, Ticket.resolved_at
    ).where(Ticket.created_at >= since, Ticket.created_at < until, unmeasured())
    rows = (await session.execute(statement)).all()
    if not rows:
        return 0
    changes: list[dict[str, Any]] = []
    for id_, opened, first, done in rows:
        change: dict[str, Any] = {"id": id_}
        for (wall, work), end in (
            (("first_response_seconds", "first_response_work_seconds"), first),
            (("resolution_seconds", "resolution_work_seconds"), done),
        ):
            change[wall] = None if end is None else (end - opened).total_seconds()
            change[work] = None if end is None else working(opened, end)
        changes.append(change)
    for start in range(0, len(changes), FILL_BATCH):
        await session.execute(update(Ticket), changes[start : start + FILL_BATCH])
    return len(changes)


# -- the rows behind a number ---------------------------------------------------------------


@dataclass(slots=True)  # not frozen: a list of 16,000 is built twice as fast
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
    breached: bool
    csat_score: int | None
    reopened: bool
    first_wall: float | None
    first_work: float | None
    resolve_wall: float | None
    resolve_work: float | None


@dataclass(frozen=True)
class RowFilter:
    """Which tickets a number counts: equal to each dimension given ("" for none), opened in
    [since, until) or open at `open_at`, breached or not, reopened or not."""

    since: datetime | None = None
    until: datetime | None = None
    open_at: datetime | None = None
    equal: tuple[tuple[str, str], ...] = ()  # (dimension, value)
    breached: bool | None = None
    reopened: bool | None = None


_DIMENSION_COLUMNS: dict[str, Any] = {
    "category": Ticket.category,
    "channel": Ticket.channel,
    "priority": Ticket.priority,
    "rule": _RULE,
    "assignee": Ticket.assignee_name,
}


def _conditions(keep: RowFilter, now: datetime) -> list[ColumnElement[bool]]:
    found: list[ColumnElement[bool]] = []
    for name, value in keep.equal:
        dimension = _DIMENSION_COLUMNS[name]
        found.append(
            or_(dimension == "", dimension.is_(None)) if value == "" else dimension == value
        )
    if keep.breached is not None:
        found.append(breached(now) if keep.breached else ~breached(now))
    if keep.reopened is not None:
        found.append(Ticket.reopens > 0 if keep.reopened else Ticket.reopens == 0)
    return found


async def ticket_rows(session: AsyncSession, keep: RowFilter, now: datetime) -> list[TicketRow]:
    """One row per ticket the filter keeps, by id."""
    dialect = dialect_name(session)
    statement = (
        select(
            Ticket.id,
            Ticket.customer_id,
            Ticket.subject,
            Ticket.status,
            Ticket.category,
            Ticket.channel,
            Ticket.priority,
            _RULE,
            Ticket.assignee_name,
            epoch_micros(Ticket.__table__.c.created_at, dialect),
            case((breached(now), True), else_=False),
            Ticket.csat_score,
            Ticket.reopens,
            Ticket.first_response_seconds,
            Ticket.first_response_work_seconds,
            Ticket.resolution_seconds,
            Ticket.resolution_work_seconds,
        )
        .outerjoin(RoutingRule, RoutingRule.id == Ticket.matched_rule_id)
        .where(*_conditions(keep, now))
    )
    if keep.open_at is not None:
        wheres = _open_at(keep.open_at)
    else:
        assert keep.since is not None and keep.until is not None
        wheres = [opened(keep.since, keep.until)]
    found: list[TicketRow] = []
    for where in wheres:
        found += [_row(tuple(r)) for r in (await session.execute(statement.where(where))).all()]
    return sorted(found, key=lambda r: r.id)


def _row(values: Sequence[Any]) -> TicketRow:
    """A row as the database typed it: sixteen thousand are built for a month's list."""
    (id_, customer, subject, status, category, channel, priority, rule, assignee) = values[:9]
    created, late, csat, reopens, first, first_work, done, done_work = values[9:]
    return TicketRow(
        id_,
        customer,
        subject,
        status,
        category,
        channel,
        priority,
        rule or "",
        assignee or "",
        moment(created) or EPOCH,
        bool(late),
        csat,
        bool(reopens),
        first,
        first_work,
        done,
        done_work,
    )
