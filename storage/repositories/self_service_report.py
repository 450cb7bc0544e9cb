"""What the self-service (FAQ) report is computed from, counted by the database: the FAQ's
answers per entry and how many a ticket followed within 24 hours, the questions it could not
answer (per period), and the 👍/👎 votes; and the answers behind a number, one row each."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from storage.db import dialect_name
from storage.models import ConversationMessage, FaqEntry, FaqFeedback, FaqMiss, Ticket
from storage.repositories.spans import Span, count_per_span

FOLLOW_UP = timedelta(hours=24)  # as the two expressions below say it


def _followed_by_ticket(dialect: str) -> ColumnElement[bool]:
    """A ticket from the answer's customer opened within 24 hours of it (merged ones count:
    the customer did ask for a person). On SQLite times are UTC text: a day later is the
    date moved by a day with the same fraction of a second, compared as text like the rest."""
    log = ConversationMessage.__table__.c
    if dialect == "postgresql":
        bound: Any = log.created_at + literal_column("interval '24 hours'")
    else:
        bound = func.datetime(log.created_at, "+1 day").concat(func.substr(log.created_at, 20))
    return (
        select(Ticket.id)
        .where(
            Ticket.customer_id == log.customer_id,
            Ticket.created_at >= log.created_at,
            Ticket.created_at < bound,
        )
        .exists()
    )


@dataclass(frozen=True)
class EntryAnswers:
    entry_id: int
    answers: int
    followed: int  # by a ticket within 24 hours


async def answers_per_entry(
    session: AsyncSession, since: datetime, until: datetime
) -> list[EntryAnswers]:
    """FAQ answers given in [since, until) per entry, and how many a ticket followed."""
    log = ConversationMessage
    followed = _followed_by_ticket(dialect_name(session))
    rows = await session.execute(
        select(log.faq_entry_id, func.count(), func.sum(case((followed, 1), else_=0)))
        .where(log.faq_entry_id.is_not(None), log.created_at >= since, log.created_at < until)
        .group_by(log.faq_entry_id)
    )
    return [EntryAnswers(int(e), int(n), int(f or 0)) for e, n, f in rows.all()]


@dataclass(frozen=True)
class FaqAnswer:
    """One FAQ answer, for the list behind a figure."""

    message_id: int
    customer_id: int
    entry_id: int
    at: datetime
    followed: bool


async def faq_answer_rows(
    session: AsyncSession,
    since: datetime,
    until: datetime,
    entry_id: int | None = None,
    followed: bool | None = None,
) -> list[FaqAnswer]:
    """The answers behind a number: of one entry, followed by a ticket or not, by id."""
    log = ConversationMessage
    ticket_after = _followed_by_ticket(dialect_name(session))
    statement = select(
        log.id, log.customer_id, log.faq_entry_id, log.created_at, ticket_after
    ).where(log.faq_entry_id.is_not(None), log.created_at >= since, log.created_at < until)
    if entry_id is not None:
        statement = statement.where(log.faq_entry_id == entry_id)
    if followed is not None:
        statement = statement.where(ticket_after if followed else ~ticket_after)
    rows = await session.execute(statement.order_by(log.id))
    return [FaqAnswer(int(i), int(c), int(e or 0), at, bool(f)) for i, c, e, at, f in rows.all()]


async def misses_by_kind(session: AsyncSession, since: datetime, until: datetime) -> dict[str, int]:
    """How many questions the FAQ did not answer (and 👎 answers), by kind."""
    rows = await session.execute(
        select(FaqMiss.kind, func.count())
        .where(FaqMiss.created_at >= since, FaqMiss.created_at < until)
        .group_by(FaqMiss.kind)
    )
    return {str(k): int(n) for k, n in rows.all()}


async def misses_per_span(
    session: AsyncSession, spans: Sequence[Span], kinds: Sequence[str]
) -> dict[str, int]:
    return await count_per_span(
        session, spans, FaqMiss, FaqMiss.created_at, FaqMiss.kind.in_(kinds)
    )


async def votes(
    session: AsyncSession, since: datetime, until: datetime
) -> dict[int, tuple[int, int]]:
    """Per entry: (👍, 👎) given in [since, until)."""
    helpful = func.sum(case((FaqFeedback.helpful.is_(True), 1), else_=0))
    unhelpful = func.sum(case((FaqFeedback.helpful.is_(False), 1), else_=0))
    rows = await session.execute(
        select(FaqFeedback.faq_entry_id, helpful, unhelpful)
        .where(FaqFeedback.created_at >= since, FaqFeedback.created_at < until)
        .group_by(FaqFeedback.faq_entry_id)
    )
    return {int(e): (int(h or 0), int(u or 0)) for e, h, u in rows.all()}


async def entry_names(session: AsyncSession) -> dict[int, tuple[str, str, str]]:
    """id -> (slug, language, question)."""
    rows = await session.execute(
        select(FaqEntry.id, FaqEntry.slug, FaqEntry.language, FaqEntry.question)
    )
    return {int(i): (str(s), str(lang), str(q)) for i, s, lang, q in rows.all()}
