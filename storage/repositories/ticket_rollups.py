"""The ticket report's counts and times read from the daily roll-ups (revision 0040) instead of
from every ticket: a year is 365 days of a few rows each, not 200,000 tickets.

A window in the business's zone rarely starts at a UTC midnight, so it is read in two parts:
the whole UTC days inside it from the roll-ups, and the hours before the first and after the
last of them from the tickets themselves (at most two days' tickets). The sum is exact.

Percentiles are exact too: the roll-up of times says how many of the window's times fall in
each bucket, so the k-th smallest is in a known bucket at a known place, and it is read from
the tickets on that time's index, skipping only the bucket's earlier rows."""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.elements import ColumnElement

from storage.db import dialect_name
from storage.models import Ticket, TicketDayCount, TicketTimeBound, TicketTimeDay, UtcDateTime
from storage.repositories.spans import Span, count_per_span
from storage.repositories.ticket_report import answered, on_time, opened, unmeasured

DIMENSIONS = ("category", "channel", "priority", "rule", "assignee")


@dataclass
class Counts:
    """What the ticket figures are made of, for a set of tickets; none depends on when it is
    read (an unanswered ticket past due is counted apart: `overdue_unanswered`)."""

    tickets: int = 0
    answered: int = 0
    resolved: int = 0
    answered_due: int = 0  # has a due time and a reply
    on_time: int = 0  # replied to by its due time
    late_answer: int = 0  # replied to after it
    resolved_ever: int = 0  # resolved now or reopened (the reopen rate's base)
    reopened: int = 0
    rated: int = 0
    satisfied: int = 0  # CSAT 4 or 5
    unmeasured: int = 0  # answered or resolved with no kept times

    def add(self, other: Counts) -> None:
        for name in COUNT_NAMES:
            setattr(self, name, getattr(self, name) + getattr(other, name))


COUNT_NAMES = tuple(f.name for f in fields(Counts))

# dimension -> its value ("" for none; a rule by its id) -> the counts of its tickets
Marginals = dict[str, dict[str, Counts]]


def _conditions() -> dict[str, ColumnElement[bool]]:
    """Each count's condition on a ticket, as the triggers of revision 0040 write it."""
    first, due = Ticket.first_response_at, Ticket.due_at
    return {
        "answered": answered(),
        "resolved": Ticket.resolved_at.is_not(None),
        "answered_due": and_(due.is_not(None), answered()),
        "on_time": on_time(),
        "late_answer": and_(due.is_not(None), first > due),
        "resolved_ever": (Ticket.resolved_at.is_not(None)) | (Ticket.reopens > 0),
        "reopened": Ticket.reopens > 0,
        "rated": Ticket.csat_score.is_not(None),
        "satisfied": Ticket.csat_score >= 4,
        "unmeasured": unmeasured(),
    }


@dataclass(frozen=True)
class Parts:
    """A window [since, until) as whole UTC days [first_day, end_day) and the rest."""

    first_day: date | None
    end_day: date | None
    edges: tuple[tuple[datetime, datetime], ...]


def split(since: datetime, until: datetime) -> Parts:
    def midnight(day: date) -> datetime:
        return datetime.combine(day, time(), UTC)

    start = since.astimezone(UTC)
    first_day = start.date() if start == midnight(start.date()) else start.date() + timedelta(1)
    end_day = until.astimezone(UTC).date()
    if first_day >= end_day:
        return Parts(None, None, ((since, until),) if since < until else ())
    edges = tuple(
        (a, b) for a, b in ((since, midnight(first_day)), (midnight(end_day), until)) if a < b
    )
    return Parts(first_day, end_day, edges)


async def ticket_counts(session: AsyncSession, since: datetime, until: datetime) -> Marginals:
    """The counts of the tickets opened in [since, until), merged ones left out, per value of
    each dimension."""
    found: Marginals = {d: defaultdict(Counts) for d in DIMENSIONS}
    parts = split(since, until)
    if parts.first_day is not None:
        statement = (
            select(
                TicketDayCount.dimension,
                TicketDayCount.value,
                *(func.sum(getattr(TicketDayCount, name)) for name in COUNT_NAMES),
            )
            .where(TicketDayCount.day >= parts.first_day, TicketDayCount.day < parts.end_day)
            .group_by(TicketDayCount.dimension, TicketDayCount.value)
        )
        for dimension, value, *sums in (await session.execute(statement)).all():
            found[str(dimension)][str(value)].add(Counts(*(int(n or 0) for n in sums)))
    conditions = _conditions()
    keys = (
        Ticket.category,
        Ticket.channel,
        Ticket.priority,
        Ticket.matched_rule_id,
        Ticket.assignee_name,
    )
    for edge_since, edge_until in parts.edges:
        statement = (
            select(
                *keys,
                func.count(),
                *(func.count().filter(conditions[name]) for name in COUNT_NAMES[1:]),
            )
            .where(opened(edge_since, edge_until))
            .group_by(*keys)
        )
        for found_row in (await session.execute(statement)).all():
            row: tuple[Any, ...] = tuple(found_row)
            edge = Counts(*(int(n) for n in row[5:]))
            keys_of_row = ("" if v is None else str(v) for v in row[:5])
            for dimension, value in zip(DIMENSIONS, keys_of_row, strict=True):
                found[dimension][value].add(edge)
    return {d: dict(values) for d, values in found.items()}


async def overdue_unanswered(
    session: AsyncSession, since: datetime, until: datetime, now: datetime
) -> int:
    """Tickets of the window with no reply yet and past their due time at `now`."""
    statement = select(func.count()).where(
        opened(since, until),
        Ticket.first_response_at.is_(None),
        Ticket.due_at.is_not(None),
        Ticket.due_at < now,
    )
    return int((await session.execute(statement)).scalar_one())


# -- times --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Durations:
    """Median (of an even count the mean of the two middle ones), nearest-rank p90 and mean
    of a set of kept times, in seconds."""

    n: int
    median: float | None
    p90: float | None
    mean: float | None


# metric -> (its column, the column kept with it: a time counts when both are kept)
METRICS: dict[str, tuple[InstrumentedAttribute[Any], InstrumentedAttribute[Any]]] = {
    "first_wall": (Ticket.first_response_seconds, Ticket.first_response_work_seconds),
    "first_work": (Ticket.first_response_work_seconds, Ticket.first_response_seconds),
    "resolve_wall": (Ticket.resolution_seconds, Ticket.resolution_work_seconds),
    "resolve_work": (Ticket.resolution_work_seconds, Ticket.resolution_seconds),
}
BY_ASSIGNEE = "first_work"  # the one metric kept per assignee (the staff table's median)

# (metric, assignee or None for everyone)
Series = tuple[str, str | None]
# (metric, assignee) -> bucket -> [count, sum]
Histogram = dict[tuple[str, str], dict[int, list[float]]]


async def _bounds(session: AsyncSession) -> list[float]:
    statement = select(TicketTimeBound.lo).order_by(TicketTimeBound.bucket)
    return [float(lo) for lo in (await session.execute(statement)).scalars()]


async def _histogram(session: AsyncSession, parts: Parts, bounds: Sequence[float]) -> Histogram:
    found: Histogram = defaultdict(lambda: defaultdict(lambda: [0, 0.0]))
    if parts.first_day is not None:
        statement = (
            select(
                TicketTimeDay.metric,
                TicketTimeDay.assignee,
                TicketTimeDay.bucket,
                func.sum(TicketTimeDay.n),
                func.sum(TicketTimeDay.total),
            )
            .where(TicketTimeDay.day >= parts.first_day, TicketTimeDay.day < parts.end_day)
            .group_by(TicketTimeDay.metric, TicketTimeDay.assignee, TicketTimeDay.bucket)
        )
        for metric, assignee, bucket, n, total in (await session.execute(statement)).all():
            cell = found[(str(metric), str(assignee))][int(bucket)]
            cell[0] += int(n or 0)
            cell[1] += float(total or 0)
    for edge_since, edge_until in parts.edges:
        statement = select(Ticket.assignee_name, *(column for column, _ in METRICS.values())).where(
            opened(edge_since, edge_until)
        )
        for assignee, *times in (await session.execute(statement)).all():
            values: list[Any] = times
            for metric, value, kept_with in zip(METRICS, values, _kept_with(values), strict=True):
                if value is None or kept_with is None:
                    continue
                seconds = float(value)
                who = str(assignee or "") if metric == BY_ASSIGNEE else ""
                cell = found[(metric, who)][bisect_right(bounds, seconds) - 1]
                cell[0] += 1
                cell[1] += seconds
    return found


def _kept_with(values: Sequence[Any]) -> list[Any]:
    """For each metric's value in METRICS order, the value of the column kept with it."""
    first_wall, first_work, resolve_wall, resolve_work = values
    return [first_work, first_wall, resolve_work, resolve_wall]


async def durations(
    session: AsyncSession, since: datetime, until: datetime, wanted: Sequence[Series]
) -> dict[Series, Durations]:
    """The kept times of the tickets opened in [since, until), merged ones left out, for each
    wanted (metric, assignee): None for everyone's."""
    if dialect_name(session) == "postgresql":
        # A rank read is fast on its time's index only when the planner sees the window and
        # the offset: a generic plan (after five runs of a prepared statement) reads the
        # whole window by opening time and sorts it, ten times slower over a year.
        await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
    bounds = await _bounds(session)
    histogram = await _histogram(session, split(since, until), bounds)
    found = {}
    for metric, assignee in wanted:
        buckets: dict[int, list[float]] = defaultdict(lambda: [0, 0.0])
        for (m, who), cells in histogram.items():
            if m == metric and (assignee is None or who == assignee):
                for bucket, (n, total) in cells.items():
                    buckets[bucket][0] += n
                    buckets[bucket][1] += total
        reader = _RankReader(session, since, until, metric, assignee, bounds, buckets)
        found[(metric, assignee)] = await reader.durations()
    return found


class _RankReader:
    """Reads the k-th smallest time of a series from the tickets, starting at its bucket."""

    def __init__(
        self,
        session: AsyncSession,
        since: datetime,
        until: datetime,
        metric: str,
        assignee: str | None,
        bounds: Sequence[float],
        buckets: dict[int, list[float]],
    ) -> None:
        self.session = session
        self.since, self.until = since, until
        self.metric = metric
        self.column, self.kept_with = METRICS[metric]
        self.dialect = dialect_name(session)
        self.assignee = assignee if metric == BY_ASSIGNEE else None
        self.bounds = bounds
        self.buckets = sorted((b, int(n), total) for b, (n, total) in buckets.items() if n)
        self.n = sum(n for _, n, _ in self.buckets)

    async def durations(self) -> Durations:
        if not self.n:
            return Durations(0, None, None, None)
        middle = await self._from_rank((self.n + 1) // 2, 1 if self.n % 2 else 2)
        p90 = await self._from_rank(max(math.ceil(0.9 * self.n), 1), 1)
        total = sum(total for _, _, total in self.buckets)
        return Durations(self.n, sum(middle) / len(middle), p90[0], total / self.n)

    async def _from_rank(self, rank: int, count: int) -> list[float]:
        """The `count` times from the rank-th smallest (1-based) on."""
        before, bucket = 0, self.buckets[-1][0]
        for each, n, total in self.buckets:
            if before + n >= rank:
                bucket = each
                # Every time in a bucket is at least its bound: a sum of n times the bound
                # means they all are (the many zero working-hour replies), nothing to read.
                if rank - before - 1 + count <= n and total <= n * self.bounds[bucket]:
                    return [self.bounds[bucket]] * count
                break
            before += n
        # Read on the time's own index, named for SQLite: with statistics its planner takes
        # the opening time's index for a long window and sorts a year of tickets instead.
        column, kept_with = self.column.key, self.kept_with.key
        hint = f" INDEXED BY ix_tickets_{self.metric}" if self.dialect == "sqlite" else ""
        who = "" if self.assignee is None else " AND assignee_name = :who"
        statement = text(
            f"SELECT {column} FROM tickets{hint} WHERE {column} >= :lo"
            " AND created_at >= :since AND created_at < :until AND merged_into_id IS NULL"
            f" AND {kept_with} IS NOT NULL{who} ORDER BY {column} LIMIT :count OFFSET :skip"
        ).bindparams(
            bindparam("since", self.since, type_=UtcDateTime()),
            bindparam("until", self.until, type_=UtcDateTime()),
            lo=self.bounds[bucket],
            count=count,
            skip=rank - before - 1,
            **({} if self.assignee is None else {"who": self.assignee}),
        )
        found = [float(v) for v in (await self.session.execute(statement)).scalars()]
        # A ticket written between the roll-up's read and this one can leave the bucket short.
        return found or [self.bounds[bucket]]


# -- volume per period ----------------------------------------------------------------------


async def tickets_per_span(session: AsyncSession, spans: Sequence[Span]) -> dict[str, int]:
    """Tickets opened in each labelled span, merged ones left out: whole UTC days from the
    roll-up, the rest counted in the tickets."""
    found: dict[str, int] = defaultdict(int)
    edges: list[Span] = []
    days: list[tuple[str, date, date]] = []
    for label, since, until in spans:
        parts = split(since, until)
        edges += [(label, a, b) for a, b in parts.edges]
        if parts.first_day is not None and parts.end_day is not None:
            days.append((label, parts.first_day, parts.end_day))
    if days:
        statement = (
            select(TicketDayCount.day, func.sum(TicketDayCount.tickets))
            .where(
                TicketDayCount.dimension == "category",
                TicketDayCount.day >= min(d[1] for d in days),
                TicketDayCount.day < max(d[2] for d in days),
            )
            .group_by(TicketDayCount.day)
        )
        per_day = {
            _as_date(day): int(n or 0) for day, n in (await session.execute(statement)).all()
        }
        for label, first, end in days:
            found[label] += sum(n for day, n in per_day.items() if first <= day < end)
    for label, n in (
        await count_per_span(
            session, edges, Ticket, Ticket.created_at, Ticket.merged_into_id.is_(None)
        )
    ).items():
        found[label] += n
    return {label: n for label, n in found.items() if n}


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))
