"""The rows the self-service (FAQ) report is computed from: the FAQ's answers, the tickets
that followed them, the questions it could not answer, and the 👍/👎 votes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ConversationMessage, FaqEntry, FaqFeedback, FaqMiss, Ticket


@dataclass(frozen=True)
class FaqAnswer:
    message_id: int
    customer_id: int
    entry_id: int
    at: datetime


async def faq_answers(session: AsyncSession, since: datetime, until: datetime) -> list[FaqAnswer]:
    log = ConversationMessage
    rows = await session.execute(
        select(log.id, log.customer_id, log.faq_entry_id, log.created_at)
        .where(
            log.direction == "out",
            log.faq_entry_id.is_not(None),
            log.created_at >= since,
            log.created_at < until,
        )
        .order_by(log.id)
    )
    return [FaqAnswer(int(i), int(c), int(e or 0), at) for i, c, e, at in rows.all()]


async def ticket_openings(
    session: AsyncSession, since: datetime, until: datetime
) -> list[tuple[int, datetime]]:
    """(customer, opened at) of tickets opened in [since, until), merged ones included: the
    customer did ask for a person."""
    rows = await session.execute(
        select(Ticket.customer_id, Ticket.created_at).where(
            Ticket.created_at >= since, Ticket.created_at < until
        )
    )
    return [(int(c), at) for c, at in rows.all()]


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
