"""The rows the self-service (FAQ) report is computed from: the FAQ's answers, the tickets
that followed them, the questions it could not answer, and the 👍/👎 votes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import dialect_name
from storage.models import ConversationMessage, FaqEntry, FaqFeedback, FaqMiss, Ticket
from storage.repositories._epoch import epoch_micros


@dataclass(frozen=True)
class FaqAnswer:
    message_id: int
    customer_id: int
    entry_id: int
    at: int  # microseconds since the epoch


async def faq_answers(session: AsyncSession, since: datetime, until: datetime) -> list[FaqAnswer]:
    log = ConversationMessage
    at = epoch_micros(log.__table__.c.created_at, dialect_name(session))
    rows = await session.execute(
        select(log.id, log.customer_id, log.faq_entry_id, at)
        .where(
            log.direction == "out",
            log.faq_entry_id.is_not(None),
            log.created_at >= since,
            log.created_at < until,
        )
        .order_by(log.id)
    )
    return [FaqAnswer(int(i), int(c), int(e or 0), int(t)) for i, c, e, t in rows.all()]


async def ticket_openings(
    session: AsyncSession, since: datetime, until: datetime
) -> list[tuple[int, int]]:
    """(customer, opened at in µs since the epoch) of tickets opened in [since, until),
    merged ones included: the customer did ask for a person."""
    at = epoch_micros(Ticket.__table__.c.created_at, dialect_name(session))
    rows = await session.execute(
        select(Ticket.customer_id, at).where(Ticket.created_at >= since, Ticket.created_at < until)
    )
    return [(int(c), int(t)) for c, t in rows.all()]


async def misses(
    session: AsyncSession, since: datetime, until: datetime
) -> list[tuple[str, datetime]]:
    """(kind, when) of the questions the FAQ did not answer (and of 👎 answers)."""
    rows = await session.execute(
        select(FaqMiss.kind, FaqMiss.created_at).where(
            FaqMiss.created_at >= since, FaqMiss.created_at < until
        )
    )
    return [(str(k), at) for k, at in rows.all()]


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
